"""Shared core: settings, catalog, storage, errors, plain data types."""

if __name__ != "kho.core":  # the repository root is the package `kho`: never a second copy
    raise ImportError(f"import kho.core, not {__name__}: install the project (scripts/setup)")
