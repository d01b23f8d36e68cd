"""hot indexes: the asset list's filtered and sorted pages read by county, in their order

Revision ID: 0008_hot_indexes
Revises: 0008_county_led
Create Date: 2026-12-03 00:40:00

The asset list (API, pages, 资产清单) asks for a town's or a village's assets ordered by code, and the
county's assets of a category ordered by original value. (county_code, town_code) and (county_code,
village_code) found the rows but not their order: the planner walked the county's code index and filtered,
or sorted every row of the town. The indexes lead with the county, then the filter, then the sort key and
the id (the tie-break): a page is the first rows of one index range and its count an index-only scan.
They replace the two narrower ones, which are their prefixes. Plans before and after: docs/perf/api.md.
"""
from alembic import op

revision = '0008_hot_indexes'
down_revision = '0008_county_led'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_assets_county_town_code", "assets", ["county_code", "town_code", "code", "id"])
    op.create_index("ix_assets_county_village_code", "assets", ["county_code", "village_code", "code", "id"])
    op.create_index("ix_assets_county_category_value", "assets",
                    ["county_code", "category", "original_value", "id"])
    op.drop_index("ix_assets_county_town", table_name="assets")
    op.drop_index("ix_assets_county_village", table_name="assets")


def downgrade():
    op.create_index("ix_assets_county_village", "assets", ["county_code", "village_code"])
    op.create_index("ix_assets_county_town", "assets", ["county_code", "town_code"])
    op.drop_index("ix_assets_county_category_value", table_name="assets")
    op.drop_index("ix_assets_county_village_code", table_name="assets")
    op.drop_index("ix_assets_county_town_code", table_name="assets")
