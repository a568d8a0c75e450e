"""The archive: records with standard fields, masters and use copies, exports, packages,
fixity and backups."""
