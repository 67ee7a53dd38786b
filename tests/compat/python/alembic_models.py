"""The models the Alembic migrations in `alembic/versions` build: after
`upgrade head`, autogenerate must find nothing to change."""

import sqlalchemy as sa

metadata = sa.MetaData()

customers = sa.Table(
    "customers", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("name", sa.Text, server_default=sa.text("'anonymous'")),
    sa.UniqueConstraint("email", name="customers_email_key"),
)

orders = sa.Table(
    "orders", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("amount", sa.Numeric(10, 2)),
    sa.Column("placed_at", sa.DateTime(timezone=True)),
    sa.Index("ix_orders_placed_at", "placed_at"),
)
