"""Executors that run the stages: a local process pool or rq workers."""

if __name__ != "kho.workers":  # the repository root is the package `kho`: never a second copy
    raise ImportError(f"import kho.workers, not {__name__}: install the project (scripts/setup)")
