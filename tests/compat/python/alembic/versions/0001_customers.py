"""customers

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.UniqueConstraint("email", name="customers_email_key"),
    )


def downgrade():
    op.drop_table("customers")
