"""Tracking: energy and CO2 per trial and per run, dataset versions, worker environments, energy budgets.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "itero_environments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("info", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "itero_datasets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("itero_studies.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("info", sa.Text, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index(
        "ix_itero_datasets_study_name_digest", "itero_datasets", ["study_id", "name", "digest"], unique=True
    )
    with op.batch_alter_table("itero_trials") as batch:
        batch.add_column(sa.Column("energy_j", sa.Float, nullable=False, server_default="0"))
        batch.add_column(sa.Column("co2_g", sa.Float, nullable=False, server_default="0"))
        batch.add_column(sa.Column("datasets", sa.Text, nullable=False, server_default="{}"))
    with op.batch_alter_table("itero_trial_runs") as batch:
        batch.add_column(sa.Column("energy_j", sa.Float, nullable=False, server_default="0"))
        batch.add_column(sa.Column("co2_g", sa.Float, nullable=False, server_default="0"))
        batch.add_column(sa.Column("energy_method", sa.String(64), nullable=False, server_default=""))
    with op.batch_alter_table("itero_workers") as batch:
        batch.add_column(sa.Column("environment_id", sa.Integer, nullable=True))
    with op.batch_alter_table("itero_runs") as batch:
        batch.add_column(sa.Column("max_energy_j", sa.Float, nullable=True))
        batch.add_column(sa.Column("energy_at_start", sa.Float, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("itero_runs") as batch:
        batch.drop_column("energy_at_start")
        batch.drop_column("max_energy_j")
    with op.batch_alter_table("itero_workers") as batch:
        batch.drop_column("environment_id")
    with op.batch_alter_table("itero_trial_runs") as batch:
        batch.drop_column("energy_method")
        batch.drop_column("co2_g")
        batch.drop_column("energy_j")
    with op.batch_alter_table("itero_trials") as batch:
        batch.drop_column("datasets")
        batch.drop_column("co2_g")
        batch.drop_column("energy_j")
    op.drop_index("ix_itero_datasets_study_name_digest", table_name="itero_datasets")
    op.drop_table("itero_datasets")
    op.drop_table("itero_environments")
