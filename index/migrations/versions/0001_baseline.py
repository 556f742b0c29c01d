"""The document store as of chidao's first migration: documents, sources, chunks, unit vectors, tasks and
their terms, conflict and same-assignment links, extraction versions, runs, the write counter.

A store written before migrations existed is brought up here too: its tables exist (CREATE ... IF NOT
EXISTS leaves them), and the columns added since (several leads, results, progress, the official header)
are added where missing.

Revision ID: 0001
Revises:
"""

from alembic import op

from index.docstore import ADDED_DOCUMENT_COLUMNS, ADDED_TASK_COLUMNS, SCHEMA
from index.schema import add_missing_columns, run_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script(op, SCHEMA)
    add_missing_columns(op, "tasks", ADDED_TASK_COLUMNS)
    add_missing_columns(op, "documents", ADDED_DOCUMENT_COLUMNS)
    op.execute("CREATE INDEX IF NOT EXISTS documents_number ON documents(number)")
