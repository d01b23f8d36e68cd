"""Import of asset ledgers, households and income from XLSX/CSV (导入): templates, checks, commit."""
