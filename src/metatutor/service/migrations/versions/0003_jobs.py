"""Training jobs (status and progress in the database) and what each model version was made from.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(32)),
        sa.Column("status", sa.String(16)),
        sa.Column("progress", sa.Float()),
        sa.Column("message", sa.String(500)),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("created", sa.Float()),
        sa.Column("finished", sa.Float(), nullable=True),
    )
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("info", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("created", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("created")
        batch.drop_column("info")
    op.drop_table("jobs")
