"""A study-wide budget (trials, steps, seconds, energy) on the study's row; workers name their optimize run;
checkpoint bytes can live in the database (``itero_blobs``).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("itero_studies") as batch:
        batch.add_column(sa.Column("max_trials", sa.Integer, nullable=True))
        batch.add_column(sa.Column("max_steps", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("steps_taken", sa.BigInteger, nullable=False, server_default="0"))
        batch.add_column(sa.Column("max_seconds", sa.Float, nullable=True))
        batch.add_column(sa.Column("max_energy_j", sa.Float, nullable=True))
    with op.batch_alter_table("itero_workers") as batch:
        batch.add_column(sa.Column("run_id", sa.Integer, nullable=True))
    op.create_table(
        "itero_blobs",
        sa.Column("digest", sa.String(80), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("itero_blobs")
    with op.batch_alter_table("itero_workers") as batch:
        batch.drop_column("run_id")
    with op.batch_alter_table("itero_studies") as batch:
        for column in ("max_energy_j", "max_seconds", "steps_taken", "max_steps", "max_trials"):
            batch.drop_column(column)
