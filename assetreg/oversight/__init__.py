"""Oversight: audits, inspections, problems to rectification (三单一账), disposal, and the county's rule settings."""
