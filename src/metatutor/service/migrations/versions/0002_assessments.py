"""Adaptive assessments: one row per CAT session, its whole state as JSON (resumable).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "assessments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("learner_id", sa.String(200), sa.ForeignKey("learners.id", ondelete="CASCADE"), index=True),
        sa.Column("bank_version", sa.Integer()),
        sa.Column("state", sa.JSON()),
        sa.Column("finished", sa.Boolean()),
    )


def downgrade() -> None:
    op.drop_table("assessments")
