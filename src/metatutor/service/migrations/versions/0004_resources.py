"""Course resources (videos, readings, hints per skill) and free-form item metadata.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "resources",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("skill", sa.String(200), sa.ForeignKey("skills.id", ondelete="CASCADE"), index=True),
        sa.Column("kind", sa.String(16)),
        sa.Column("title", sa.String(500)),
        sa.Column("url", sa.String(2000)),
    )
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("meta", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_column("meta")
    op.drop_table("resources")
