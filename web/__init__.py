"""The web door: search, documents, review and operators' pages."""

if __name__ != "kho.web":  # the repository root is the package `kho`: never a second copy
    raise ImportError(f"import kho.web, not {__name__}: install the project (scripts/setup)")
