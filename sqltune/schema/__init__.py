"""Schema stage: read a warehouse into one typed model, prune it per question, render it."""

from sqltune.schema.model import Column, ForeignKey, Schema, Table

__all__ = ["Column", "ForeignKey", "Schema", "Table"]
