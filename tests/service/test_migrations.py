"""The Alembic migrations against the ORM tables, on SQLite and PostgreSQL: the newest revision builds
exactly the schema `tables.py` declares, and the newest revision goes down and up again keeping the data."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("alembic", reason="the service extra is not installed")
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import inspect

from metatutor.service.app import create_app
from metatutor.service.db import migrate
from metatutor.service.store import builtin_course
from metatutor.service.tables import Base

ADMIN = {"X-API-Key": "admin-secret"}


def test_the_migrations_build_the_declared_schema(settings: Any) -> None:
    app = create_app(settings)
    with app.state.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    app.state.engine.dispose()


def test_the_newest_migration_goes_down_and_up_keeping_the_data(settings: Any) -> None:
    app = create_app(settings)
    client = TestClient(app)
    client.post("/api/course", json=builtin_course(n_skills=2, items_per_skill=3), headers=ADMIN)
    client.post("/api/learners", json={"id": "a"}, headers=ADMIN)
    engine = app.state.engine
    migrate(engine, "0004", down=True)  # before the KT tables (and the NOT NULLs)
    schema = inspect(engine)
    assert "kt_states" not in schema.get_table_names()
    assert "arrays" not in {c["name"] for c in schema.get_columns("model_versions")}
    migrate(engine)
    schema = inspect(engine)
    assert "kt_states" in schema.get_table_names()
    assert "arrays" in {c["name"] for c in schema.get_columns("model_versions")}
    assert client.get("/api/learners/a/state", headers=ADMIN).status_code == 200  # the course and learner kept
    engine.dispose()
