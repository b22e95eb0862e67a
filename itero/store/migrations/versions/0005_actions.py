"""The expert in the loop: what people did to a study by hand (``itero_actions``), and a trial's pending request
(stop, pause, resume) that its worker reads back with each write (``itero_trials.request``).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "itero_actions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("itero_studies.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("who", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("trial_number", sa.Integer, nullable=True),
        sa.Column("details", sa.Text, nullable=False, server_default="{}"),
    )
    op.create_index("ix_itero_actions_study_id", "itero_actions", ["study_id", "id"])
    with op.batch_alter_table("itero_trials") as batch:
        batch.add_column(sa.Column("request", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("itero_trials") as batch:
        batch.drop_column("request")
    op.drop_index("ix_itero_actions_study_id", "itero_actions")
    op.drop_table("itero_actions")
