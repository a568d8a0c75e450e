"""The CLI's command groups (doors over workers and stages)."""

if __name__ != "kho.commands":  # the repository root is the package `kho`: never a second copy
    raise ImportError(f"import kho.commands, not {__name__}: install the project (scripts/setup)")
