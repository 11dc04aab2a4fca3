"""voice notes: the transcript, its language, the transcriber, audio length and cost per message

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ('transcript', 'transcript_language', 'transcriber', 'audio_seconds',
            'transcription_cost_usd', 'transcription_ms')


def upgrade() -> None:
    # Nullable columns only: SQLite adds them in place, no table rebuild.
    op.add_column('messages', sa.Column('transcript', sa.Text(), nullable=True))
    op.add_column('messages', sa.Column('transcript_language', sa.String(length=16),
                                        nullable=True))
    op.add_column('messages', sa.Column('transcriber', sa.String(length=120), nullable=True))
    op.add_column('messages', sa.Column('audio_seconds', sa.Float(), nullable=True))
    op.add_column('messages', sa.Column('transcription_cost_usd', sa.Float(), nullable=True))
    op.add_column('messages', sa.Column('transcription_ms', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
