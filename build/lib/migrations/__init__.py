"""Alembic migrations of the lcad service database (run through ``service.db.migrate`` or ``lcad db upgrade``)."""
