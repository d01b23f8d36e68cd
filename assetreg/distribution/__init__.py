"""Distribution (分配): county policy, plans with allocations and household lines, public-welfare jobs and the 四议两公开 procedure."""
