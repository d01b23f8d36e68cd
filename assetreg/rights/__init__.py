"""The five rights (五权) of every asset: holders over time, and completeness."""
