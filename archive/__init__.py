"""The archive model: records kept as archival masters, use copies given out."""
