"""Alembic environment: run on the connection `kho.migrations` passes, else on a URL.

From the command line: `alembic -c migrations/alembic.ini -x url=postgresql+psycopg2://...
upgrade head`; without `-x url` the catalog URL comes from kho's settings (KHO_*).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from kho.core.catalog import Base


def run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER through table copies
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        from kho.core.settings import load_settings

        url = load_settings().catalog_url
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) mode is not supported: run against a database")
main()
