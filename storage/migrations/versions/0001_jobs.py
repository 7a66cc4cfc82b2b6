"""Job records.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Sequence = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("seq", Sequence, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("finish_ms", sa.BigInteger(), nullable=True),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
    )
    op.create_index("jobs_owner_start", "jobs", ["owner", "start_ms", "seq"])
    op.create_index("jobs_owner_status_start", "jobs", ["owner", "status", "start_ms", "seq"])
    op.create_index("jobs_owner_status_priority", "jobs", ["owner", "status", "priority"])
    op.create_index("jobs_status_updated", "jobs", ["status", "updated_ms"])
    op.create_index("jobs_finish", "jobs", ["finish_ms"])


def downgrade() -> None:
    op.drop_table("jobs")
