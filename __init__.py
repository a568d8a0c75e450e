"""kho — the archive store: scans in, a searchable, access-controlled archive out."""

__version__ = "0.1.0"
