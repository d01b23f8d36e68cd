"""Flags (预警): the rules of DOMAIN.md §11 evaluated as of a day, acknowledgements, the flag list and `flask policy`."""
