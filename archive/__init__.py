"""The archive: records with standard fields, exports, packages, fixity and backups."""
