"""Queue messages (the PostgreSQL queue; harmless elsewhere).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Sequence = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "queue_messages",
        sa.Column("id", Sequence, primary_key=True, autoincrement=True),
        sa.Column("queue", sa.String(80), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("visible_at", sa.Float(), nullable=False),
        sa.Column("receive_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("receipt", sa.String(64), nullable=True, unique=True),
        sa.Column("sent_at", sa.Float(), nullable=False),
    )
    op.create_index("queue_messages_queue_visible", "queue_messages", ["queue", "visible_at", "id"])


def downgrade() -> None:
    op.drop_table("queue_messages")
