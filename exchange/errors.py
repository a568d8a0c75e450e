"""What a transfer can end in besides success: refused whole (nothing of it imported), or
held until the package before it arrives."""

from __future__ import annotations

from kho.core.errors import ExitCode, KhoError


class TransferRefused(KhoError):
    """A package, receipt or push refused whole, in one line: what is wrong and what to do.
    Nothing of it was imported or changed."""

    exit_code = ExitCode.refused


class PackageError(TransferRefused):
    """A package file that is not a well-formed, safe transfer package (damaged, truncated,
    hostile paths, links, over the limits)."""


class TransferHeld(KhoError):
    """A package that arrived before an earlier one from the same sender: kept, imported
    once the missing one is."""

    exit_code = ExitCode.held
