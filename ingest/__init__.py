"""Finding scan files and turning them into documents and pages."""

if __name__ != "kho.ingest":  # the repository root is the package `kho`: never a second copy
    raise ImportError(f"import kho.ingest, not {__name__}: install the project (scripts/setup)")
