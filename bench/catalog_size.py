"""PostgreSQL rows and bytes per page of a real catalog, for the capacity plan.

    eval "$(scripts/services up postgres)"
    .venv/bin/python bench/catalog_size.py /tmp/wb/20k/home    # a storage root kho ingested

The storage root's SQLite catalog is dumped (`core.dump`, as `kho backup` does) and loaded
into a fresh PostgreSQL database migrated to this schema (dropped afterwards); then each
table's rows and total size (heap, indexes, TOAST) per page read. Baseline in the same run:
the SQLite catalog file's own size per page.
"""

from __future__ import annotations

import io
import os
import sqlite3
import sys
from pathlib import Path


def main() -> None:
    home = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ["KHO_HOME"])
    from sqlalchemy import create_engine, text

    from kho.core.catalog import Catalog
    from kho.core.dump import dump_catalog, load_catalog
    from kho.synth.scratch import scratch_pg_database

    source = create_engine(f"sqlite:///{home / 'catalog.sqlite'}")
    dump = io.BytesIO()
    dump_catalog(source, dump)
    with sqlite3.connect(f"file:{home / 'catalog.sqlite'}?mode=ro", uri=True) as db:
        pages = db.execute("SELECT count(*) FROM pages WHERE status = 'done'").fetchone()[0]
    sqlite_bytes = sum(p.stat().st_size for p in home.glob("catalog.sqlite*"))
    with scratch_pg_database(os.environ["KHO_DATABASE_URL"], "kho_size") as url:
        Catalog(url).close()  # migrated to this kho's schema, empty
        engine = create_engine(url)
        load_catalog(engine, dump.getvalue().splitlines(keepends=True))
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            rows = conn.execute(
                text(
                    "SELECT relname, n_live_tup, pg_total_relation_size(relid) "
                    "FROM pg_stat_user_tables ORDER BY 3 DESC"
                )
            ).all()
        engine.dispose()
    print(f"{home}: {pages:,} pages read")
    print(f"{'table':<22}{'rows':>10}{'rows/page':>11}{'bytes/page':>12}")
    total = 0
    for name, count, size in rows:
        total += size
        if count or size > 65536:
            print(f"{name:<22}{count:>10,}{count / pages:>11.2f}{size / pages:>12,.0f}")
    print(f"{'PostgreSQL, all':<22}{'':>10}{'':>11}{total / pages:>12,.0f}")
    print(f"{'SQLite file (baseline)':<22}{'':>10}{'':>11}{sqlite_bytes / pages:>12,.0f}")


if __name__ == "__main__":
    main()
