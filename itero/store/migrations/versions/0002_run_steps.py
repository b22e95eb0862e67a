"""Optimize runs count the steps they have granted, so peers share a step budget exactly.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("itero_runs") as batch:
        batch.add_column(sa.Column("steps_taken", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("itero_runs") as batch:
        batch.drop_column("steps_taken")
