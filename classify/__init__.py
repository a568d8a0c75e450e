"""Categories, header metadata and the review queue."""

if __name__ != "kho.classify":  # the repository root is the package `kho`: never a second copy
    raise ImportError(f"import kho.classify, not {__name__}: install the project (scripts/setup)")
