"""Database: engine and sessions, the embedded PostgreSQL, and the models Alembic migrates."""
