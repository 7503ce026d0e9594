"""Schema text for prompts: constraints, comments, samples, quoting, compact types, determinism."""

from __future__ import annotations

from pathlib import Path

from sqltune.schema import load_schema
from sqltune.schema.model import Column, ForeignKey, Schema, Table
from sqltune.schema.render import RenderOptions, compact_type, quote_name, render_schema, render_table

REPO = Path(__file__).resolve().parents[1]


def _orders_schema() -> Schema:
    customers = Table(
        "customers",
        [
            Column("customer_id", "INTEGER", False),
            Column("city", "VARCHAR(40)", True, "Home city.", ("Boston", "O'Hare", "Denver")),
            Column("segment", "VARCHAR", True, "One of retail, wholesale", ("retail", "wholesale")),
        ],
        primary_key=("customer_id",),
        comment="People who buy\n  things.",
        row_count=42,
    )
    lines = Table(
        "order_lines",
        [
            Column("order_id", "BIGINT", False),
            Column("line_no", "SMALLINT", False),
            Column("customer_id", "INTEGER"),
            Column("order", "INTEGER", comment="Reserved word as a name"),
            Column("amount", "DECIMAL(10,2)", samples=("9.99",)),
        ],
        primary_key=("order_id", "line_no"),
        foreign_keys=[
            ForeignKey(("customer_id",), "customers", ("customer_id",)),
            ForeignKey(("order_id", "line_no"), "shipments", ("order_id", "line_no")),
        ],
    )
    return Schema("shop", [customers, lines])


def test_render_golden():
    text = render_schema(_orders_schema())
    assert text == (
        "CREATE TABLE customers ( -- People who buy things.\n"
        "  customer_id int primary key,\n"
        "  city text, -- Home city. e.g. 'Boston', 'O''Hare'\n"
        "  segment text -- One of retail, wholesale\n"
        ");\n"
        "CREATE TABLE order_lines (\n"
        "  order_id bigint,\n"
        "  line_no smallint,\n"
        "  customer_id int references customers(customer_id),\n"
        '  "order" int, -- Reserved word as a name\n'
        "  amount decimal,\n"
        "  primary key (order_id, line_no),\n"
        "  foreign key (order_id, line_no) references shipments(order_id, line_no)\n"
        ");"
    )


def test_render_options():
    schema = _orders_schema()
    bare = render_schema(schema, RenderOptions(include_comments=False, samples_per_column=0))
    assert "--" not in bare
    samples_only = render_table(schema.tables[0], RenderOptions(include_comments=False, samples_per_column=1))
    assert "city text, -- e.g. 'Boston'\n" in samples_only and "Denver" not in samples_only
    verbose = render_table(
        schema.tables[0], RenderOptions(compact_types=False, include_row_counts=True, include_not_null=True)
    )
    assert "VARCHAR(40)" in verbose and "-- People who buy things.; 42 rows" in verbose
    assert "customer_id INTEGER primary key" in verbose
    assert render_schema(schema) == render_schema(_orders_schema())  # deterministic


def test_compact_types_and_quoting():
    assert [compact_type(t) for t in ["INTEGER", "VARCHAR(100)", "NUMERIC(12, 4)", "double precision"]] == [
        "int",
        "text",
        "decimal",
        "double",
    ]
    assert compact_type("TIMESTAMP WITH TIME ZONE") == "timestamptz"
    assert compact_type("STRUCT(a INT)") == "struct(a int)"  # unknown types are kept, lower-cased
    assert quote_name("order") == '"order"' and quote_name("city") == "city"
    assert quote_name("My Col") == '"My Col"'
    assert quote_name("CustomerID", "postgres") == '"CustomerID"'  # Postgres folds unquoted names
    assert quote_name("CustomerID", "duckdb") == "CustomerID"


def test_render_real_ddl_shows_keys_and_comments():
    text = render_schema(load_schema(REPO / "schemas" / "port_operations.sql"))
    assert "CREATE TABLE berths ( -- Berths (mooring places), numbered within their terminal." in text
    assert "  primary key (terminal_code, berth_no)\n" in text
    assert "foreign key (terminal_code, berth_no) references berths(terminal_code, berth_no)" in text
    assert "imo_number int references vessels(imo_number)," in text
    assert text.count("CREATE TABLE") == 9


def test_columns_style_lists_names_only_and_prunes_with_the_same_budget():
    import pytest

    from sqltune.prompts import PromptConfig, approx_token_count, schema_for_question

    orders = Table("orders", [Column("order_id", "INTEGER"), Column("customer_id", "INTEGER"), Column("Status Code", "VARCHAR")],
                   primary_key=("order_id",), foreign_keys=[ForeignKey(("customer_id",), "customers", ("customer_id",))])
    customers = Table("customers", [Column("customer_id", "INTEGER"), Column("city", "VARCHAR", samples=("Oslo",))])
    schema = Schema("shop", [orders, customers])
    text = render_schema(schema, RenderOptions(style="columns"))
    assert text == 'orders(order_id, customer_id, "Status Code")\ncustomers(customer_id, city)'
    ddl = render_schema(schema, RenderOptions())
    assert approx_token_count(text) * 2 < approx_token_count(ddl)
    with pytest.raises(ValueError, match="unknown schema style"):
        render_schema(schema, RenderOptions(style="yaml"))
    # The prompt config carries the style into pruning and rendering, and rejects unknown styles.
    selected = schema_for_question(schema, "cities of customers", PromptConfig(schema_style="columns", max_schema_tokens=12))
    assert selected.schema.table_names == ["customers"]
    from sqltune.core.errors import ConfigError

    with pytest.raises(ConfigError, match="schema_style"):
        PromptConfig(schema_style="yaml")
