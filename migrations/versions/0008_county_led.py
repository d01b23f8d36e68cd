"""county-led: the flag rules' status history read by county

Revision ID: 0008_county_led
Revises: 0008_partitions
Create Date: 2026-12-03 01:00:00

``asset_status_changes`` had only an index on asset_id, so "the first day each asset of the county reached
these statuses" (flags/rules.py ``first_reached``: NO_INCOME, AUDIT_MISSING, DISPOSAL_UNAPPROVED;
INCOME_ON_DISPOSED) read every county's history. The index leads with the county, then the status and the
day, and carries the asset: the rules read it alone. Plans before and after: docs/perf/flags_county_led.md.
"""
from alembic import op

revision = '0008_county_led'
down_revision = '0008_partitions'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_asset_status_changes_county_status", "asset_status_changes",
                    ["county_code", "to_status", "changed_on", "asset_id"])


def downgrade():
    op.drop_index("ix_asset_status_changes_county_status", table_name="asset_status_changes")
