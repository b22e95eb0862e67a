"""The store's tables (SQLAlchemy Core). Migrations in ``migrations/versions`` must create exactly these.

Every change to a study's trials takes the next value of ``studies.clock`` as its ``version``; a reader that
remembers the last version it saw fetches only what changed since (incremental reads). JSON columns are text;
times are UNIX seconds.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

SCHEMA_REVISION = "0006"

metadata = MetaData()

studies = Table(
    "itero_studies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("directions", Text, nullable=False),
    Column("config", Text, nullable=False, server_default="{}"),
    Column("user_attrs", Text, nullable=False, server_default="{}"),
    Column("created_at", Float, nullable=False),
    Column("clock", BigInteger, nullable=False, server_default="0"),
    Column("next_number", Integer, nullable=False, server_default="0"),
    # The study's budget, shared by every process and machine that works on it (NULL: no limit). Trials are
    # capped on next_number, steps on steps_taken (counted only while max_steps is set).
    Column("max_trials", Integer, nullable=True),
    Column("max_steps", BigInteger, nullable=True),
    Column("steps_taken", BigInteger, nullable=False, server_default="0"),
    Column("max_seconds", Float, nullable=True),
    Column("max_energy_j", Float, nullable=True),
    # Grows with each change of the study's settings that running workers apply (``study.narrow``); read with the
    # budget, so a worker reloads ``config`` only when it changed.
    Column("config_version", Integer, nullable=False, server_default="0"),
)

runs = Table(
    "itero_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study_id", Integer, ForeignKey("itero_studies.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("n_trials", Integer, nullable=True),
    Column("started", Integer, nullable=False, server_default="0"),
    Column("max_steps", BigInteger, nullable=True),
    Column("steps_at_start", BigInteger, nullable=False, server_default="0"),
    Column("steps_taken", BigInteger, nullable=False, server_default="0"),
    Column("deadline", Float, nullable=True),
    Column("max_energy_j", Float, nullable=True),
    Column("energy_at_start", Float, nullable=False, server_default="0"),
    Column("created_at", Float, nullable=False),
    Column("ended_at", Float, nullable=True),
)

workers = Table(
    "itero_workers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study_id", Integer, ForeignKey("itero_studies.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
    Column("finished", Boolean, nullable=False, server_default="0"),
    Column("environment_id", Integer, nullable=True),
    Column("run_id", Integer, nullable=True),  # the optimize run it works for (its heartbeat keeps the run alive)
)

environments = Table(
    "itero_environments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("info", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

datasets = Table(
    "itero_datasets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study_id", Integer, ForeignKey("itero_studies.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("info", Text, nullable=False, server_default="{}"),
    Column("created_at", Float, nullable=False),
    Index("ix_itero_datasets_study_name_digest", "study_id", "name", "digest", unique=True),
)

trials = Table(
    "itero_trials",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study_id", Integer, ForeignKey("itero_studies.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("params", Text, nullable=False, server_default="{}"),
    Column("distributions", Text, nullable=False, server_default="{}"),
    Column("metrics", Text, nullable=False, server_default="{}"),
    Column("step", Integer, nullable=False, server_default="0"),
    Column("parent_id", Integer, nullable=True),
    Column("checkpoint_id", Integer, nullable=True),
    Column("worker_id", Integer, nullable=True),
    Column("retries", Integer, nullable=False, server_default="0"),
    Column("error", Text, nullable=True),
    Column("user_attrs", Text, nullable=False, server_default="{}"),
    Column("system_attrs", Text, nullable=False, server_default="{}"),
    Column("steps_run", BigInteger, nullable=False, server_default="0"),
    Column("wall_seconds", Float, nullable=False, server_default="0"),
    Column("cpu_seconds", Float, nullable=False, server_default="0"),
    Column("energy_j", Float, nullable=False, server_default="0"),
    Column("co2_g", Float, nullable=False, server_default="0"),
    Column("datasets", Text, nullable=False, server_default="{}"),
    Column("n_runs", Integer, nullable=False, server_default="0"),
    Column("started_at", Float, nullable=True),
    Column("completed_at", Float, nullable=True),
    Column("version", BigInteger, nullable=False),
    # A person's request not yet carried out (``Study.stop_trial`` ...), as JSON {"action": ..., "who": ...}: stop or
    # pause a RUNNING trial (its worker reads it back with each write), resume a PAUSED one (the next free worker).
    Column("request", Text, nullable=True),
    Index("ix_itero_trials_study_version", "study_id", "version"),
    Index("ix_itero_trials_study_number", "study_id", "number", unique=True),
)

reports = Table(
    "itero_reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study_id", Integer, ForeignKey("itero_studies.id", ondelete="CASCADE"), nullable=False),
    Column("trial_id", Integer, ForeignKey("itero_trials.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("step", Integer, nullable=False),
    Column("metrics", Text, nullable=False),
    Column("version", BigInteger, nullable=False),
    Index("ix_itero_reports_study_version", "study_id", "version"),
)

trial_runs = Table(
    "itero_trial_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study_id", Integer, ForeignKey("itero_studies.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("trial_id", Integer, ForeignKey("itero_trials.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("worker_id", Integer, nullable=True),
    Column("start_step", Integer, nullable=False),
    Column("end_step", Integer, nullable=False),
    Column("wall_seconds", Float, nullable=False),
    Column("cpu_seconds", Float, nullable=False),
    Column("energy_j", Float, nullable=False, server_default="0"),
    Column("co2_g", Float, nullable=False, server_default="0"),
    Column("energy_method", String(64), nullable=False, server_default=""),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float, nullable=False),
    Column("outcome", String(16), nullable=False),
)

checkpoints = Table(
    "itero_checkpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study_id", Integer, ForeignKey("itero_studies.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("trial_id", Integer, ForeignKey("itero_trials.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("step", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
)

# Checkpoint bytes kept in the database itself (the ``database`` artifact location, PostgreSQL's default), named by
# their SHA-256 digest like files.
blobs = Table(
    "itero_blobs",
    metadata,
    Column("digest", String(80), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
)

# What people did to a study by hand (enqueue, stop, pause, resume, note, tag, ...), oldest first; ``who`` is the OS
# user or the label of the dashboard token that acted, ``details`` JSON.
actions = Table(
    "itero_actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study_id", Integer, ForeignKey("itero_studies.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("who", String(255), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("trial_number", Integer, nullable=True),
    Column("details", Text, nullable=False, server_default="{}"),
    Index("ix_itero_actions_study_id", "study_id", "id"),
)
