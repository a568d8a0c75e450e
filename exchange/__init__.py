"""Interconnected archives: node identities, signed and sealed transfer packages between
unit archives, their import, receipts and relay up the chain of units."""
