"""The archive model beside the pipeline: its hierarchy, the fixity of stored files, backup sets."""
