"""kho — the archive store: scans in, a searchable, access-controlled archive out."""

__version__ = "0.1.0"

if __name__ != "kho":  # the repository root is the package itself
    raise ImportError(f"import kho, not {__name__}: install the project (scripts/setup)")
