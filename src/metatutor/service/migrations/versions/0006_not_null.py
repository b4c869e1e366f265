"""NOT NULL where the tables have always been written with a value (the first migrations left every column
nullable; `tables.py` declares these as required). Existing rows already hold values.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"

REQUIRED: dict[str, list[tuple[str, sa.types.TypeEngine]]] = {
    "api_keys": [("key_hash", sa.String(64)), ("role", sa.String(16))],
    "assessments": [("learner_id", sa.String(200)), ("bank_version", sa.Integer()), ("state", sa.JSON()),
                    ("finished", sa.Boolean())],
    "items": [("skills", sa.JSON())],
    "jobs": [("kind", sa.String(32)), ("status", sa.String(16)), ("progress", sa.Float()), ("message", sa.String(500)),
             ("created", sa.Float())],
    "learner_states": [("model_version", sa.Integer()), ("state", sa.JSON()), ("answers", sa.Integer())],
    "model_versions": [("kind", sa.String(32)), ("params", sa.JSON()), ("active", sa.Boolean())],
    "resources": [("skill", sa.String(200)), ("kind", sa.String(16)), ("title", sa.String(500)), ("url", sa.String(2000))],
    "responses": [("learner_id", sa.String(200)), ("event_id", sa.String(200)), ("item_id", sa.String(200)),
                  ("correct", sa.Boolean()), ("timestamp", sa.Float())],
}


def _set(nullable: bool) -> None:
    for table, columns in REQUIRED.items():
        with op.batch_alter_table(table) as batch:
            for name, kind in columns:
                batch.alter_column(name, existing_type=kind, nullable=nullable)


def upgrade() -> None:
    _set(False)


def downgrade() -> None:
    _set(True)
