"""Search indexes (embedded SQLite FTS5, Elasticsearch) with access control."""

if __name__ != "kho.index":  # the repository root is the package `kho`: never a second copy
    raise ImportError(f"import kho.index, not {__name__}: install the project (scripts/setup)")
