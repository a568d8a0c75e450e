"""The source file a worker process reads, kept open between its page jobs.

A page job reads one page of a document's original. Opening the file for each job made
every page pay for the whole file (a PDF's cross-reference table, its page list): a page of
a 5,000-page PDF cost ~140 ms against ~15 ms with the file open, and a document its length
squared. A process keeps the last source it opened and gives it to the next job that reads
the same file, unchanged on disk (inode, size, modification time), for up to MAX_USES jobs
and MAX_IDLE_S seconds (then the decoders' own caches start afresh). A job that fails with
it closes it: the next one opens the file again. One job at a time holds it; a second
thread asking meanwhile opens its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kho.core.settings import Limits
from kho.ingest.formats import SourceFile, open_source

MAX_USES = 500  # page jobs one opened source serves
MAX_IDLE_S = 60.0  # a source unused this long is opened again (its file may have gone)


@dataclass
class _Kept:
    key: tuple
    source: SourceFile
    uses: int
    last: float


_lock = threading.Lock()
_kept: _Kept | None = None


@contextmanager
def page_source(path: Path, limits: Limits) -> Iterator[SourceFile]:
    """`open_source(path, limits)`, kept open for the process's next job on the same file."""
    st = Path(path).stat()
    key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns, limits)
    kept = _take(key)
    if kept is None:
        kept = _Kept(key, open_source(path, limits), 0, 0.0)
    try:
        yield kept.source
    except BaseException:
        kept.source.close()
        raise
    kept.uses += 1
    kept.last = time.monotonic()
    _give_back(kept)


def close_kept() -> None:
    """Close the kept source, if any (a worker going idle or stopping)."""
    global _kept
    with _lock:
        kept, _kept = _kept, None
    if kept is not None:
        kept.source.close()


def _take(key: tuple) -> _Kept | None:
    global _kept
    with _lock:
        kept, _kept = _kept, None
    if kept is None:
        return None
    fresh = time.monotonic() - kept.last < MAX_IDLE_S
    if kept.key == key and kept.uses < MAX_USES and fresh:
        return kept
    kept.source.close()
    return None


def _give_back(kept: _Kept) -> None:
    global _kept
    with _lock:
        spare, _kept = _kept, kept
    if spare is not None:  # another thread kept its own meanwhile
        spare.source.close()
