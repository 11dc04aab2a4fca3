"""answer passages: which vetted passages an outbound answer was built from

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing rows get an empty list; new rows always set it (the model's default), so the
    # server default is dropped again to keep the schema identical to the models.
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('passage_ids', sa.JSON(), nullable=False, server_default='[]'))
    with op.batch_alter_table('messages') as batch:
        batch.alter_column('passage_ids', server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('passage_ids')
