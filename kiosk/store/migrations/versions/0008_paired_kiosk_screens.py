"""paired kiosk screens

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 03:25:00

``screens``: a kiosk screen paired once by an admin (``kiosk screen pair``). Its browser keeps a random
token in a cookie; only the token's SHA-256 is stored, and only paired screens and logged-in desk users
get Socket.IO connections. The one-time pairing code is stored the same way, with its expiry.
"""
from alembic import op
import sqlalchemy as sa
import kiosk.store.models


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('screens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=True),
    sa.Column('code_hash', sa.String(length=64), nullable=True),
    sa.Column('code_expires_at', kiosk.store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('paired_at', kiosk.store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('paired_by', sa.String(length=32), nullable=False),
    sa.Column('revoked_at', kiosk.store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_seen_at', kiosk.store.models.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_screens')),
    sa.UniqueConstraint('name', name=op.f('uq_screens_name')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_screens_token_hash'))
    )


def downgrade() -> None:
    op.drop_table('screens')
