"""positions: forward entry price and realised result (exact rationals)

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

_COLUMNS = (("entry_num", "0"), ("entry_den", "1"), ("realised_num", "0"), ("realised_den", "1"))


def upgrade() -> None:
    with op.batch_alter_table("positions") as batch:
        for name, default in _COLUMNS:
            batch.add_column(sa.Column(name, sa.BigInteger(), nullable=False,
                                       server_default=default))


def downgrade() -> None:
    with op.batch_alter_table("positions") as batch:
        for name, _ in reversed(_COLUMNS):
            batch.drop_column(name)
