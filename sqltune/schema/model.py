"""The one schema model every reader produces and every later stage consumes."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass
class Column:
    name: str
    type: str
    nullable: bool = True
    comment: str | None = None
    samples: tuple[str, ...] = ()
    # Every distinct value of a low-cardinality text column (readers fill it); matched against
    # question words when pruning, never shown in prompts.
    values: tuple[str, ...] = ()


@dataclass
class Table:
    name: str
    columns: list[Column]
    primary_key: tuple[str, ...] = ()
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    comment: str | None = None
    row_count: int | None = None

    def column(self, name: str) -> Column | None:
        lname = name.lower()
        return next((c for c in self.columns if c.name.lower() == lname), None)


@dataclass
class Schema:
    """A warehouse's tables. `name` is a label (file stem, database name); `dialect` is sqlglot's."""

    name: str
    tables: list[Table]
    dialect: str = "duckdb"
    # Statements a DDL file held that no reader understood ("file:line: text"); never dropped silently.
    skipped: list[str] = field(default_factory=list, compare=False)

    def table(self, name: str) -> Table | None:
        lname = name.lower()
        return next((t for t in self.tables if t.name.lower() == lname), None)

    @property
    def table_names(self) -> list[str]:
        return [t.name for t in self.tables]

    def subset(self, names: list[str]) -> "Schema":
        """The same schema restricted to `names`, in the schema's own table order."""
        wanted = {n.lower() for n in names}
        return Schema(self.name, [t for t in self.tables if t.name.lower() in wanted], self.dialect)

    def to_dict(self) -> dict:
        data = asdict(self)
        if not data["skipped"]:
            del data["skipped"]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict) -> "Schema":
        tables = []
        for t in data["tables"]:
            cols = [
                Column(**{**c, "samples": tuple(c.get("samples", ())), "values": tuple(c.get("values", ()))})
                for c in t["columns"]
            ]
            fks = [
                ForeignKey(tuple(fk["columns"]), fk["ref_table"], tuple(fk["ref_columns"]))
                for fk in t.get("foreign_keys", [])
            ]
            tables.append(
                Table(
                    name=t["name"],
                    columns=cols,
                    primary_key=tuple(t.get("primary_key", ())),
                    foreign_keys=fks,
                    comment=t.get("comment"),
                    row_count=t.get("row_count"),
                )
            )
        return cls(data["name"], tables, data.get("dialect", "duckdb"), list(data.get("skipped", [])))
