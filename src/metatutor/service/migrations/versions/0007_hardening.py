"""Keys that can be listed, labelled, expired and revoked; dashboard sessions (the cookie no longer holds
the key); the service's own secrets; a learner state that remembers the last response stepped into it, so
that a rebuild after a model switch can go on in steps; responses indexed in their order per learner.
Keys of a teacher or learner without a subject, which the service never should have made, are removed.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("label", sa.String(200), nullable=True))
        batch.add_column(sa.Column("created", sa.Float(), nullable=True))
        batch.add_column(sa.Column("expires", sa.Float(), nullable=True))
        batch.add_column(sa.Column("last_used", sa.Float(), nullable=True))
        batch.add_column(sa.Column("bootstrap", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("DELETE FROM api_keys WHERE role <> 'admin' AND subject IS NULL")
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.Integer(), sa.ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("expires", sa.Float(), nullable=False),
    )
    op.create_table("secrets", sa.Column("name", sa.String(64), primary_key=True),
                    sa.Column("value", sa.String(200), nullable=False))
    with op.batch_alter_table("learner_states") as batch:
        batch.add_column(sa.Column("last_response", sa.Integer(), nullable=False, server_default="0"))
    # a stored state has every response of its learner stepped in (the answer path kept them in step)
    op.execute("UPDATE learner_states SET last_response = COALESCE((SELECT MAX(r.id) FROM responses r "
               "WHERE r.learner_id = learner_states.learner_id), 0)")
    op.create_index("ix_responses_learner_order", "responses", ["learner_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_responses_learner_order", table_name="responses")
    with op.batch_alter_table("learner_states") as batch:
        batch.drop_column("last_response")
    op.drop_table("secrets")
    op.drop_table("web_sessions")
    with op.batch_alter_table("api_keys") as batch:
        for name in ("bootstrap", "last_used", "expires", "created", "label"):
            batch.drop_column(name)
