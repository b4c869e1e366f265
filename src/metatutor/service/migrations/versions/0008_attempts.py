"""Answers the server grades: a response keeps what was typed, the verdict, the misconception it showed,
the hints shown before it and the seconds it took; hints shown are kept until the answer that uses them.
Jobs that any instance can claim: their parameters, the instance running one, its heartbeat.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    with op.batch_alter_table("responses") as batch:
        batch.add_column(sa.Column("answer", sa.String(1000), nullable=True))
        batch.add_column(sa.Column("verdict", sa.String(16), nullable=True))
        batch.add_column(sa.Column("misconception", sa.String(200), nullable=True))
        batch.add_column(sa.Column("hints", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("seconds", sa.Float(), nullable=True))
    op.create_table(
        "hint_views",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("learner_id", sa.String(200), sa.ForeignKey("learners.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("item_id", sa.String(200), nullable=False),
        sa.Column("shown", sa.Float(), nullable=False),
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("params", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("heartbeat", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        for name in ("heartbeat", "claimed_by", "params"):
            batch.drop_column(name)
    op.drop_table("hint_views")
    with op.batch_alter_table("responses") as batch:
        for name in ("seconds", "hints", "misconception", "verdict", "answer"):
            batch.drop_column(name)
