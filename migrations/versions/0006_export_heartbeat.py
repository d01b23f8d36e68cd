"""export jobs: a heartbeat, so that a job whose worker died is failed within minutes

Revision ID: 0006_export_heartbeat
Revises: 0005_auth_sessions
Create Date: 2026-12-02 15:50:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0006_export_heartbeat'
down_revision = '0005_auth_sessions'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('export_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('export_jobs', schema=None) as batch_op:
        batch_op.drop_column('heartbeat_at')
