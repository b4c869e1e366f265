"""Knowledge-tracing models served per learner: a model version may hold its arrays (a safetensors blob),
and each learner has an online state under the active KT model.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("arrays", sa.LargeBinary(), nullable=True))
    op.create_table(
        "kt_states",
        sa.Column("learner_id", sa.String(200), sa.ForeignKey("learners.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("last_response", sa.Integer(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("kt_states")
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("arrays")
