"""Schema migrations with Alembic, for the document store and the feedback store, on SQLite and PostgreSQL.

Each store has its own migration folder and version table (``index/migrations``: ``alembic_version``;
``assistant/migrations``: ``alembic_version_feedback``), because on SQLite they live in two files while on
PostgreSQL they share one database. Opening a store runs ``alembic upgrade head`` on it (a no-op when it is
current; a store written before migrations existed is brought up by the baseline revision). A new column
or table is a new revision in the store's ``versions/`` folder, never an edit of an old one.
"""

from __future__ import annotations

import threading
from pathlib import Path

from index.db import Database, is_url

_LOCK = threading.Lock()
#: The PostgreSQL advisory lock held while a store is migrated (any number, the same in every process).
MIGRATION_LOCK = 7_241_530_107


def sqlalchemy_url(target: str | Path) -> str:
    """The SQLAlchemy URL of a store (``postgresql+psycopg://`` for psycopg 3, ``sqlite:///`` for a file)."""
    if is_url(target):
        return "postgresql+psycopg://" + str(target).split("://", 1)[1]
    return f"sqlite:///{Path(target)}"


def current_revision(db: Database, table: str) -> str | None:
    """The Alembic revision a store is at (None: never migrated)."""
    try:
        row = db.execute(f"SELECT version_num FROM {table}").fetchone()
    except Exception:  # no such table yet (sqlite3 and psycopg raise their own errors; autocommit: no rollback)
        return None
    return row[0] if row else None


def ensure(db: Database, target: str | Path, scripts: Path, version_table: str, head: str) -> None:
    """Migrate the store ``db`` (opened on ``target``) when it is behind ``head``: a store at the head costs
    one query when opened, not an Alembic run."""
    if current_revision(db, version_table) != head:
        upgrade(target, scripts, version_table)


def upgrade(target: str | Path, scripts: Path, version_table: str) -> None:
    """Bring the store at ``target`` to the newest revision in ``scripts``."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    config = Config()
    config.set_main_option("script_location", str(scripts))
    config.attributes["version_table"] = version_table
    sqlite = not is_url(target)
    engine = create_engine(sqlalchemy_url(target), poolclass=NullPool,
                           connect_args={"timeout": 60} if sqlite else {})
    if sqlite:
        # Python's sqlite3 commits before DDL on its own; let SQLAlchemy's BEGIN hold the whole migration
        # (the recipe of SQLAlchemy's SQLite notes), so that a failed migration leaves the file as it was.
        from sqlalchemy import event

        @event.listens_for(engine, "connect")
        def _no_implicit_commits(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(connection) -> None:
            # IMMEDIATE: the write lock first, so that a second process opening the same new store waits and
            # then finds it migrated, instead of migrating it twice
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        with _LOCK, engine.begin() as connection:  # one transaction: a failed migration changes nothing
            if not sqlite:  # workers starting together on a new database: one migrates, the others wait
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()


def run_script(op, script: str) -> None:
    """Execute a schema script written in SQLite's dialect on the migration's engine."""
    from index.db import to_postgres

    dialect = op.get_bind().dialect.name
    for statement in (s.strip() for s in script.split(";")):
        if statement:
            op.execute(to_postgres(statement).replace("%%", "%") if dialect == "postgresql" else statement)


def add_missing_columns(op, table: str, columns: tuple[tuple[str, str], ...]) -> None:
    """``ALTER TABLE ADD COLUMN`` for the columns a table (made by an older chidao) lacks."""
    import sqlalchemy as sa

    from index.db import to_postgres

    bind = op.get_bind()
    have = {c["name"] for c in sa.inspect(bind).get_columns(table)}
    for name, kind in columns:
        if name not in have:
            sql = f"ALTER TABLE {table} ADD COLUMN {name} {kind}"
            op.execute(to_postgres(sql).replace("%%", "%") if bind.dialect.name == "postgresql" else sql)


