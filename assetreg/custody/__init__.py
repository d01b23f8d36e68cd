"""Custody (管护) and operation (经营) of assets, each a history of records."""
