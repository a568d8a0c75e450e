"""The document page of a long document: HTML size and time to make it.

Ingests a 300-page born-digital PDF (through the real CLI) and asks `/doc/<id>` of the web
app (Flask's test client, in process), rendered as it is now (the first batch of pages and
light slots) and, as the baseline, with every page in one batch (the page before batches):

    .venv/bin/python bench/document_page.py [--pages 300] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def ingest(root: Path, pages: int) -> tuple[Path, str]:
    from kho.synth.pages import write_born_digital_pdf

    scans = root / "scans"
    scans.mkdir()
    texts = [f"Báo cáo tổng kết, trang số {n}.\nCông tác đảng và công tác chính trị." for n in
             range(1, pages + 1)]  # fmt: skip
    write_born_digital_pdf(scans / "tong-ket.pdf", texts)
    home = root / "home"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KHO_")},
        "KHO_HOME": str(home),
    }
    kho = [sys.executable, "-m", "kho"]
    subprocess.run([*kho, "ingest", str(scans), "--batch", "b", "-q"], env=env, check=True)
    out = subprocess.run([*kho, "search", "tổng kết", "--json"], env=env, check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    return home, json.loads(out)[0]["doc_id"]


def measure(client, path: str, runs: int) -> tuple[int, float]:
    times, size = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        reply = client.get(path)
        times.append(time.perf_counter() - start)
        assert reply.status_code == 200, reply.status_code
        size = len(reply.data)
    return size, sorted(times)[len(times) // 2]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=300)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home, doc_id = ingest(Path(tmp), args.pages)
        os.environ["KHO_HOME"] = str(home)
        from kho.core.settings import load_settings
        from kho.web import docpage
        from kho.web.app import create_app

        client = create_app(load_settings()).test_client()
        rows = [(f"batches of {docpage.PAGE_BATCH}", *measure(client, f"/doc/{doc_id}", args.runs))]
        docpage.PAGE_BATCH = args.pages  # baseline: every page in the HTML
        rows.append(("every page (baseline)", *measure(client, f"/doc/{doc_id}", args.runs)))
        print(f"/doc/<id> of a {args.pages}-page document, median of {args.runs}")
        print(f"{'rendered':<24}{'HTML bytes':>12}{'seconds':>10}")
        for name, size, seconds in rows:
            print(f"{name:<24}{size:>12,}{seconds:>10.3f}")


if __name__ == "__main__":
    main()
