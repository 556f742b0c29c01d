"""The feedback table as of chidao's first migration.

Revision ID: f0001
Revises:
"""

from alembic import op

from assistant.feedback import SCHEMA
from index.schema import run_script

revision = "f0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script(op, SCHEMA)
