"""Exports: the auditor's ledger workbook and pack, run as background jobs."""
