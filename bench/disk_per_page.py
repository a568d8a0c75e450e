"""Disk per page of a storage root, by kind of file, for the capacity plan.

    kho ingest ../shared/realpages/images --batch real      # or any batch of real scans
    .venv/bin/python bench/disk_per_page.py [KHO_HOME]

Counts the pages the catalog says were read and divides each kind of stored file by them:
originals (the baseline: what the scanner made), page images, screen renditions, page texts
(with words and boxes), searchable PDFs, PDF/A masters, the catalog and the embedded index.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

KINDS = (  # (label, glob under the storage root)
    ("originals (baseline)", "originals/*/*"),
    ("page images", "docs/*/page-[0-9][0-9][0-9][0-9][0-9].jpg"),
    ("screen renditions", "docs/*/page-*.screen.jpg"),
    ("page texts (JSON)", "docs/*/page-*.json"),
    ("searchable PDFs", "docs/*/searchable.pdf"),
    ("PDF/A masters", "docs/*/master.pdf"),
    ("catalog (SQLite)", "catalog.sqlite*"),
    ("embedded index", "index.sqlite*"),
)


def main() -> None:
    home = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ["KHO_HOME"])
    with sqlite3.connect(f"file:{home / 'catalog.sqlite'}?mode=ro", uri=True) as db:
        pages = db.execute("SELECT count(*) FROM pages WHERE status = 'done'").fetchone()[0]
    if not pages:
        sys.exit(f"{home}: no page read yet")
    print(f"{home}: {pages:,} pages read")
    print(f"{'':<24}{'KB/page':>10}{'x original':>12}")
    sizes = {label: sum(p.stat().st_size for p in home.glob(pat)) for label, pat in KINDS}
    base = sizes[KINDS[0][0]] or 1
    for label, size in sizes.items():
        print(f"{label:<24}{size / pages / 1024:>10,.1f}{size / base:>12.2f}")
    total = sum(sizes.values())
    print(f"{'all of it':<24}{total / pages / 1024:>10,.1f}{total / base:>12.2f}")


if __name__ == "__main__":
    main()
