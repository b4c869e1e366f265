"""Initial schema: course, learners, API keys, responses, learner states, model versions.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table("skills", sa.Column("id", sa.String(200), primary_key=True))
    op.create_table(
        "prerequisites",
        sa.Column("prerequisite", sa.String(200), sa.ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("skill", sa.String(200), sa.ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_table("items", sa.Column("id", sa.String(200), primary_key=True), sa.Column("skills", sa.JSON()))
    op.create_table("learners", sa.Column("id", sa.String(200), primary_key=True),
                    sa.Column("teacher", sa.String(200), index=True))
    op.create_table("api_keys", sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("key_hash", sa.String(64), unique=True), sa.Column("role", sa.String(16)),
                    sa.Column("subject", sa.String(200)))
    op.create_table(
        "responses",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("learner_id", sa.String(200), sa.ForeignKey("learners.id", ondelete="CASCADE"), index=True),
        sa.Column("event_id", sa.String(200)),
        sa.Column("item_id", sa.String(200)),
        sa.Column("correct", sa.Boolean()),
        sa.Column("timestamp", sa.Float()),
        sa.UniqueConstraint("learner_id", "event_id"),
    )
    op.create_table(
        "learner_states",
        sa.Column("learner_id", sa.String(200), sa.ForeignKey("learners.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("model_version", sa.Integer()),
        sa.Column("state", sa.JSON()),
        sa.Column("answers", sa.Integer()),
    )
    op.create_table("model_versions", sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("kind", sa.String(32)), sa.Column("params", sa.JSON()), sa.Column("active", sa.Boolean()))


def downgrade() -> None:
    for name in ("model_versions", "learner_states", "responses", "api_keys", "learners", "items",
                 "prerequisites", "skills"):
        op.drop_table(name)
