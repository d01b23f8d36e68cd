"""Shared kernel: money, time, errors, column types, validators. Knows nothing of HTTP."""
