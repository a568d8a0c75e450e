"""Pages per minute of a finished batch: over its working time, not the last minutes (when
nothing finishes any more and the recent rate is 0)."""

from __future__ import annotations

import json
import shutil
import sqlite3

from .conftest import REPO, run_kho


def test_a_finished_batch_keeps_the_rate_it_ran_at(tmp_path):
    scans, home = tmp_path / "scans", tmp_path / "home"
    scans.mkdir()
    shutil.copy(REPO / "samples" / "thong-bao-tuyen-truyen.pdf", scans)
    run_kho("ingest", str(scans), "--batch", "old", "-q", home=home)
    with sqlite3.connect(home / "catalog.sqlite") as db:  # it ran yesterday
        db.execute("UPDATE pages SET updated_at = datetime(updated_at, '-1 day')")
        db.execute("UPDATE batches SET created_at = datetime(created_at, '-1 day')")
    (batch,) = json.loads(run_kho("status", "--batch", "old", "--json", home=home).stdout)[
        "batches"
    ]
    assert batch["finished"] and batch["pages_done"] == 1
    assert batch["pages_per_min"] > 0, batch
    assert batch["eta_s"] is None
