"""The first schema: studies, optimize runs, workers, trials, reports, trial runs and checkpoints.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _study_fk() -> sa.Column:
    return sa.Column("study_id", sa.Integer, sa.ForeignKey("itero_studies.id", ondelete="CASCADE"), nullable=False)


def _trial_fk() -> sa.Column:
    return sa.Column("trial_id", sa.Integer, sa.ForeignKey("itero_trials.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "itero_studies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("directions", sa.Text, nullable=False),
        sa.Column("config", sa.Text, nullable=False, server_default="{}"),
        sa.Column("user_attrs", sa.Text, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("clock", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("next_number", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "itero_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _study_fk(),
        sa.Column("n_trials", sa.Integer, nullable=True),
        sa.Column("started", sa.Integer, nullable=False, server_default="0"),
        sa.Column("max_steps", sa.BigInteger, nullable=True),
        sa.Column("steps_at_start", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("deadline", sa.Float, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float, nullable=True),
    )
    op.create_index("ix_itero_runs_study_id", "itero_runs", ["study_id"])
    op.create_table(
        "itero_workers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _study_fk(),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("heartbeat_at", sa.Float, nullable=False),
        sa.Column("finished", sa.Boolean, nullable=False, server_default="0"),
    )
    op.create_index("ix_itero_workers_study_id", "itero_workers", ["study_id"])
    op.create_table(
        "itero_trials",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _study_fk(),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("params", sa.Text, nullable=False, server_default="{}"),
        sa.Column("distributions", sa.Text, nullable=False, server_default="{}"),
        sa.Column("metrics", sa.Text, nullable=False, server_default="{}"),
        sa.Column("step", sa.Integer, nullable=False, server_default="0"),
        sa.Column("parent_id", sa.Integer, nullable=True),
        sa.Column("checkpoint_id", sa.Integer, nullable=True),
        sa.Column("worker_id", sa.Integer, nullable=True),
        sa.Column("retries", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("user_attrs", sa.Text, nullable=False, server_default="{}"),
        sa.Column("system_attrs", sa.Text, nullable=False, server_default="{}"),
        sa.Column("steps_run", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("wall_seconds", sa.Float, nullable=False, server_default="0"),
        sa.Column("cpu_seconds", sa.Float, nullable=False, server_default="0"),
        sa.Column("n_runs", sa.Integer, nullable=False, server_default="0"),
        sa.Column("started_at", sa.Float, nullable=True),
        sa.Column("completed_at", sa.Float, nullable=True),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_itero_trials_study_version", "itero_trials", ["study_id", "version"])
    op.create_index("ix_itero_trials_study_number", "itero_trials", ["study_id", "number"], unique=True)
    op.create_table(
        "itero_reports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _study_fk(),
        _trial_fk(),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_itero_reports_trial_id", "itero_reports", ["trial_id"])
    op.create_index("ix_itero_reports_study_version", "itero_reports", ["study_id", "version"])
    op.create_table(
        "itero_trial_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _study_fk(),
        _trial_fk(),
        sa.Column("worker_id", sa.Integer, nullable=True),
        sa.Column("start_step", sa.Integer, nullable=False),
        sa.Column("end_step", sa.Integer, nullable=False),
        sa.Column("wall_seconds", sa.Float, nullable=False),
        sa.Column("cpu_seconds", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
    )
    op.create_index("ix_itero_trial_runs_study_id", "itero_trial_runs", ["study_id"])
    op.create_index("ix_itero_trial_runs_trial_id", "itero_trial_runs", ["trial_id"])
    op.create_table(
        "itero_checkpoints",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _study_fk(),
        _trial_fk(),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_itero_checkpoints_study_id", "itero_checkpoints", ["study_id"])
    op.create_index("ix_itero_checkpoints_trial_id", "itero_checkpoints", ["trial_id"])


def downgrade() -> None:
    for table in (
        "itero_checkpoints",
        "itero_trial_runs",
        "itero_reports",
        "itero_trials",
        "itero_workers",
        "itero_runs",
        "itero_studies",
    ):
        op.drop_table(table)
