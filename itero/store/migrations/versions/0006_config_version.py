"""A counter of changes to a study's settings that running workers must apply (``study.narrow``): read with the
study's budget row, so a worker reloads the settings only when it changed.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("itero_studies") as batch:
        batch.add_column(sa.Column("config_version", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("itero_studies") as batch:
        batch.drop_column("config_version")
