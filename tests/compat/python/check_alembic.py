"""Alembic, the real migration tool: `upgrade head` over two revisions
(tables, a unique constraint, a column added with a default, a foreign key,
an index), all in one transaction as Alembic runs DDL on PostgreSQL; the
same again is a no-op; `alembic check` (autogenerate against the models,
through SQLAlchemy's inspector) finds nothing to change; `downgrade` to
base leaves only `alembic_version`."""

import os
import sys

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from common import DATABASE, HOST, PORT, USER, check

URL = f"postgresql+psycopg://{USER}@{HOST}:{PORT}/{DATABASE}"


def tables(engine):
    return sorted(sa.inspect(engine).get_table_names())


def version(engine):
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.text("SELECT version_num FROM alembic_version"))]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    cfg = Config()
    cfg.set_main_option("script_location", os.path.join(here, "alembic"))
    cfg.set_main_option("sqlalchemy.url", URL)
    engine = sa.create_engine(URL)

    command.upgrade(cfg, "head")
    check("tables after upgrade", tables(engine), ["alembic_version", "customers", "orders"])
    check("version after upgrade", version(engine), ["0002"])
    command.upgrade(cfg, "head")
    check("version after a second upgrade", version(engine), ["0002"])
    command.check(cfg)  # raises if autogenerate finds a difference
    print("ok: alembic check finds nothing to change")
    with engine.connect() as conn:
        conn.execute(sa.text("INSERT INTO customers (id, email) VALUES (1, 'a@example.com')"))
        conn.commit()
        check("server default", conn.execute(sa.text("SELECT name FROM customers")).scalar_one(),
              "anonymous")

    command.downgrade(cfg, "0001")
    check("tables after downgrade to 0001", tables(engine), ["alembic_version", "customers"])
    check("columns after downgrade to 0001",
          [c["name"] for c in sa.inspect(engine).get_columns("customers")], ["id", "email"])
    command.downgrade(cfg, "base")
    check("tables after downgrade to base", tables(engine), ["alembic_version"])
    check("version after downgrade to base", version(engine), [])
    engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
