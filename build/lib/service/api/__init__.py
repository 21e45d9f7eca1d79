"""The HTTP API (FastAPI): ``create_app`` in :mod:`service.api.main`, one router per resource in ``routes/``."""
