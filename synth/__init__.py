"""Generated pages, records and bad files for tests, samples and benchmarks."""

if __name__ != "kho.synth":  # the repository root is the package `kho`: never a second copy
    raise ImportError(f"import kho.synth, not {__name__}: install the project (scripts/setup)")
