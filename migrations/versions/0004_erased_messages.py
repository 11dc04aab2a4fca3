"""erased messages: keyed hashes of erased MessageSids, so a replayed delivery stays erased

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('erased_messages',
    sa.Column('sid_hash', sa.String(length=64), nullable=False),
    sa.Column('erased_at', bot.store.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sid_hash', name=op.f('pk_erased_messages'))
    )


def downgrade() -> None:
    op.drop_table('erased_messages')
