"""The store: SQLAlchemy Core tables, Alembic migrations, engine set-up, bulk writes and the
unit of work. SQLite file by default; PostgreSQL via ``ARREARS_DATABASE_URL``."""
