"""voice notes and replies: transcript, language, transcriber, length, cost; spoken reply clips

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision: str = '0007'
down_revision: str | None = '0006'
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
    op.create_table('voice_clips',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('content_type', sa.String(length=40), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('expires_at', bot.store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', bot.store.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'],
                            name=op.f('fk_voice_clips_message_id_messages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_voice_clips'))
    )
    op.create_index(op.f('ix_voice_clips_message_id'), 'voice_clips', ['message_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_voice_clips_message_id'), table_name='voice_clips')
    op.drop_table('voice_clips')
    with op.batch_alter_table('messages') as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
