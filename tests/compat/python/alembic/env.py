"""Alembic's environment for the compatibility check: online mode against
the Eddy the check was given, comparing against `alembic_models`."""

import os
import sys

import sqlalchemy as sa
from alembic import context

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from alembic_models import metadata  # noqa: E402

url = context.config.get_main_option("sqlalchemy.url")
engine = sa.create_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata,
                      compare_server_default=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
