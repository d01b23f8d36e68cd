"""Integrity checks an auditor can run (``flask verify``): the hash chains, the settlements, their splits and
the plans' totals recomputed from what they are made of."""
