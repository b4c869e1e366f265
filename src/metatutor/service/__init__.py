"""The web service (install with the `service` extra): FastAPI + SQLAlchemy over the learner model,
practice policies and reports. `create_app()` builds the app; `metatutor serve` runs it."""
