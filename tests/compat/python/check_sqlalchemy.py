"""SQLAlchemy (psycopg 3 dialect): Core insert/select with bound parameters,
then reflection with inspect() (get_table_names, get_columns,
get_pk_constraint, and get_multi_columns over a hundred tables), which
reads pg_catalog."""

import sys

import sqlalchemy as sa

from common import (CREATE, DATABASE, HOST, PORT, USER, VALUES, check, check_row,
                    fail)


def main():
    engine = sa.create_engine(f"postgresql+psycopg://{USER}@{HOST}:{PORT}/{DATABASE}")
    with engine.connect() as conn:
        conn.execute(sa.text(CREATE.format(table="compat_types")))
        conn.commit()
        meta = sa.MetaData()
        table = sa.Table(
            "compat_types", meta,
            sa.Column("id", sa.Integer), sa.Column("b", sa.Boolean),
            sa.Column("i2", sa.SmallInteger), sa.Column("i4", sa.Integer),
            sa.Column("i8", sa.BigInteger), sa.Column("f4", sa.REAL),
            sa.Column("f8", sa.Double), sa.Column("n", sa.Numeric(12, 4)),
            sa.Column("t", sa.Text), sa.Column("v", sa.String(20)),
            sa.Column("by", sa.LargeBinary), sa.Column("d", sa.Date),
            sa.Column("ts", sa.DateTime), sa.Column("tstz", sa.DateTime(timezone=True)),
            sa.Column("iv", sa.Interval), sa.Column("u", sa.Uuid),
            sa.Column("j", sa.JSON), sa.Column("jb", sa.dialects.postgresql.JSONB),
        )
        conn.execute(table.insert(), [dict(VALUES, id=1)])
        conn.commit()
        row = conn.execute(sa.select(*[table.c[c] for c in VALUES]).where(table.c.id == 1)).one()
        check_row("row read back through Core", tuple(row))
        got = conn.execute(sa.text("SELECT i4 - :x FROM compat_types WHERE v = :v"),
                           {"x": 1, "v": "varchar"}).scalar_one()
        check("parameterised text() query", got, 1_999_999_999)

    inspector = sa.inspect(engine)
    check("get_table_names", "compat_types" in inspector.get_table_names(), True)
    columns = inspector.get_columns("compat_types")
    check("get_columns names", [c["name"] for c in columns], ["id"] + list(VALUES))
    check("get_columns types", [str(c["type"]) for c in columns][:5],
          ["INTEGER", "BOOLEAN", "SMALLINT", "INTEGER", "BIGINT"])
    check("get_columns nullable", [c["nullable"] for c in columns][:2], [False, True])
    check("get_pk_constraint", inspector.get_pk_constraint("compat_types")["constrained_columns"], [])

    # Reflection of many tables at once (Superset's schema sync): every
    # column default is a catalog subquery evaluated per row.
    with engine.connect() as conn:
        conn.execute(sa.text(";".join(
            f"CREATE TABLE wide_{i} (id int PRIMARY KEY, a text DEFAULT 'x', "
            f"b bigint DEFAULT 7, c timestamptz DEFAULT now(), d text)" for i in range(100))))
        conn.commit()
    columns = sa.inspect(engine).get_multi_columns()
    wide = {name: cols for (_, name), cols in columns.items() if name.startswith("wide_")}
    check("get_multi_columns: tables", len(wide), 100)
    check("get_multi_columns: defaults of one table", [c["default"] for c in wide["wide_42"]],
          [None, "'x'::text", "7", "now()", None])


if __name__ == "__main__":
    sys.exit(main())
