"""The income ledger (收益台账): entries, village shares, fixed returns, totals and year-end settlement."""
