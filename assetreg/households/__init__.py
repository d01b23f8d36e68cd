"""Households (农户) and their members, with status and monitoring (监测) sub-types."""
