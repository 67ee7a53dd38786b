"""orders, and a column added to customers

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("customers", sa.Column("name", sa.Text,
                                         server_default=sa.text("'anonymous'")))
    op.create_table(
        "orders",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("customer_id", sa.Integer, nullable=False),
        sa.Column("amount", sa.Numeric(10, 2)),
        sa.Column("placed_at", sa.DateTime(timezone=True)),
    )
    op.create_foreign_key("orders_customer_id_fkey", "orders", "customers",
                          ["customer_id"], ["id"], ondelete="CASCADE")
    op.create_index("ix_orders_placed_at", "orders", ["placed_at"])


def downgrade():
    op.drop_index("ix_orders_placed_at", table_name="orders")
    op.drop_table("orders")
    op.drop_column("customers", "name")
