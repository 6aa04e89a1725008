"""SQL storage with SQLAlchemy Core: a SQLite file (WAL) by default, PostgreSQL by URL."""
