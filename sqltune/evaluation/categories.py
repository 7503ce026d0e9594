"""Say how a wrong answer is wrong: one error category per miss, from the two queries' ASTs.

Error categories, checked in this order (the first that applies wins):

1. ``gold_error``: the gold query itself failed; the item is broken, not the model.
2. ``timeout``: the prediction ran past the time limit.
3. ``rejected``: the guard or the sandbox refused the prediction (writes, files, settings...).
4. ``syntax_error``: the prediction is empty or does not parse.
5. ``hallucinated_schema``: it names a table or column the warehouse does not have.
6. ``runtime_error``: it failed any other way (type errors, bad function arguments...).
7. ``undecided_at_cap``: both results were cut at the row cap, so they could not be compared
   (counted wrong; a higher ``--max-rows`` decides them).
8. ``wrong_table``: it reads other tables than gold (a table missing, extra or swapped), whatever
   else differs: a query on the wrong table is not a wrong aggregation.
9. ``wrong_join_keys``: same tables as gold, but the column equalities joining them differ
   (compared as sets of table.column pairs, with aliases resolved).
10. ``wrong_aggregation``: aggregate functions, GROUP BY or HAVING differ from gold's (date
    predicates inside them set aside: a different year in ``SUM(CASE WHEN ...)`` is a date error).
11. ``wrong_columns``: it returns more or fewer columns than gold, or other table columns from a
    query that otherwise has gold's shape (the reason names the missing and extra ones). The same
    columns through other expressions (``upper(name)`` for ``name``) are wrong values, not columns.
12. ``wrong_date_filter``: once predicates on date/time columns or date literals are set aside,
    the query has gold's shape, and those predicates differ.
13. ``wrong_order``: the same rows as gold, in another order (gold orders them).
14. ``wrong_rows``: anything else that ran but returned different rows.
"""

from __future__ import annotations

import re

import dataclasses

from sqltune.evaluation.compare import MatchRules, MatchVerdict, execution_match, gold_is_ordered
from sqltune.schema.model import Schema
from sqltune.execution.execute import ExecutionResult

CATEGORIES = (
    "gold_error",
    "timeout",
    "rejected",
    "syntax_error",
    "hallucinated_schema",
    "runtime_error",
    "undecided_at_cap",
    "wrong_table",
    "wrong_join_keys",
    "wrong_aggregation",
    "wrong_columns",
    "wrong_date_filter",
    "wrong_order",
    "wrong_rows",
)


_DATE_TYPE = re.compile(r"\b(date|time|timestamp\w*|datetime|interval)\b", re.I)
_DATE_NAME_EDGE = re.compile(r"^(date|time)|(date|time|timestamp)$")
_DATE_NAME_TOKENS = frozenset(
    {"date", "time", "datetime", "timestamp", "year", "yr", "month", "mon", "quarter", "qtr", "week", "day", "fiscal", "fy", "period", "ts", "dt"}
)
_DATE_NAME_SUFFIXES = frozenset({"at", "on"})
_DATE_LITERAL = re.compile(r"^\d{4}-\d{2}(-\d{2})?([ T]\d{2}:\d{2}(:\d{2})?)?")
_DATE_FUNCTION_NODES = frozenset({"Extract", "Year", "Month", "Quarter", "Week", "Day", "DayOfWeek", "DayOfMonth", "DayOfYear", "WeekOfYear"})


def _parse(sql: str, dialect: str):
    import sqlglot

    try:
        return sqlglot.parse_one(sql, read=dialect)
    except Exception:  # sqlglot raises several error types; any of them means "cannot read"
        return None


def _is_date_column_name(name: str) -> bool:
    """order_date, orderdate, date_key, created_at, fiscal_year, ship_ts: yes; lifetime_value: no."""
    name = name.lower()
    tokens = [t for t in re.split(r"[^a-z0-9]+", name) if t]
    if not tokens:
        return False
    return (
        _DATE_NAME_EDGE.search(name) is not None
        or bool(_DATE_NAME_TOKENS.intersection(tokens))
        or tokens[-1] in _DATE_NAME_SUFFIXES
    )


def _date_columns(schema: Schema | None) -> set[str]:
    """Lower-case names of columns the schema types as dates or times."""
    if schema is None:
        return set()
    return {c.name.lower() for t in schema.tables for c in t.columns if _DATE_TYPE.search(c.type or "")}


def _is_date_predicate(node, date_columns: set[str]) -> bool:
    from sqlglot import exp

    for sub in node.walk():
        kind = type(sub).__name__
        if isinstance(sub, exp.Column) and (sub.name.lower() in date_columns or _is_date_column_name(sub.name)):
            return True
        if isinstance(sub, exp.Literal) and sub.is_string and _DATE_LITERAL.match(sub.this):
            return True
        if isinstance(sub, exp.DataType) and _DATE_TYPE.search(sub.sql()):
            return True
        if "Date" in kind or "Time" in kind or "Interval" in kind or kind in _DATE_FUNCTION_NODES:
            return True
    return False


def _conjuncts(node) -> list:
    from sqlglot import exp

    if isinstance(node, exp.And):
        return _conjuncts(node.this) + _conjuncts(node.expression)
    if isinstance(node, exp.Paren) and isinstance(node.this, exp.And):
        return _conjuncts(node.this)
    return [node]


def _plain_sql(node, dialect: str) -> str:
    """`node` as text with table qualifiers, table aliases and output aliases dropped, lower-cased."""
    from sqlglot import exp

    def strip(n):
        if isinstance(n, exp.Column) and n.args.get("table") is not None:
            return exp.column(n.args["this"].copy())
        if isinstance(n, exp.Table) and n.args.get("alias") is not None:
            n = n.copy()
            n.set("alias", None)
            return n
        if isinstance(n, exp.Alias):
            return n.this
        return n

    return node.copy().transform(strip).sql(dialect=dialect, normalize=True, comments=False).lower()


_DATE_MASK = "__date_predicate__"


def _is_join_condition(node) -> bool:
    from sqlglot import exp

    return isinstance(node, exp.EQ) and isinstance(node.this, exp.Column) and isinstance(node.expression, exp.Column)


def _date_masked(tree, dialect: str, date_columns: set[str]):
    """A copy of `tree` without its date predicates, and those predicates as plain text.

    Date conjuncts of WHERE and JOIN ... ON are removed (so a missing date filter leaves the same
    shape); date comparisons elsewhere (CASE WHEN, HAVING) become a placeholder. Column = column
    equalities are join conditions, never date predicates, even on date keys."""
    from sqlglot import exp

    tree = tree.copy()
    removed: list[str] = []
    holders = [(w, "this") for w in tree.find_all(exp.Where)] + [
        (j, "on") for j in tree.find_all(exp.Join) if j.args.get("on") is not None
    ]
    for holder, key in holders:
        kept = []
        for conjunct in _conjuncts(holder.args[key]):
            if not _is_join_condition(conjunct) and _is_date_predicate(conjunct, date_columns):
                removed.append(_plain_sql(conjunct, dialect))
            else:
                kept.append(conjunct)
        if kept:
            holder.set(key, exp.and_(*kept, copy=False))
        elif isinstance(holder, exp.Where):
            holder.pop()
        else:
            holder.set(key, exp.true())
    comparisons = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between, exp.In)
    for node in list(tree.find_all(*comparisons)):
        inner = [n for n in node.walk() if n is not node]
        if any(isinstance(n, (*comparisons, exp.AggFunc, exp.Select)) for n in inner):
            continue  # mask only the innermost comparisons, so aggregates around them stay visible
        if not _is_join_condition(node) and _is_date_predicate(node, date_columns):
            removed.append(_plain_sql(node, dialect))
            node.replace(exp.column(_DATE_MASK))
    return tree, tuple(sorted(removed))


def _aggregation_signature(tree, dialect: str) -> tuple:
    """Aggregates, GROUP BY keys and HAVING conditions, order-insensitive, aliases dropped."""
    from sqlglot import exp

    aggregates = sorted(_plain_sql(a, dialect) for a in tree.find_all(exp.AggFunc))
    groups = sorted(tuple(sorted(_plain_sql(e, dialect) for e in g.expressions)) for g in tree.find_all(exp.Group))
    having = sorted(_plain_sql(h.this, dialect) for h in tree.find_all(exp.Having))
    return (tuple(aggregates), tuple(groups), tuple(having))


def _scopes(tree):
    from sqlglot.optimizer.scope import traverse_scope

    try:
        return traverse_scope(tree)
    except Exception:  # sqlglot cannot build scopes for some queries (odd set operations etc.)
        return []


def _resolve_source(scope, qualifier: str) -> str | None:
    """The real table an alias or table name stands for in `scope` (or an enclosing one)."""
    from sqlglot import exp

    while scope is not None:
        source = scope.sources.get(qualifier)
        if isinstance(source, exp.Table):
            return source.name.lower()
        if source is not None:
            return f"({qualifier})"  # a CTE or derived table: its name is the best identity we have
        scope = scope.parent
    return None


def _scope_tables(scope) -> list[str]:
    from sqlglot import exp

    return [s.name.lower() for s in scope.sources.values() if isinstance(s, exp.Table)]


def _column_owner(column, scope, schema: Schema | None) -> str:
    if column.table:
        return _resolve_source(scope, column.table) or column.table.lower()
    if schema is not None:  # unqualified: the one table in scope that has such a column
        owners = [t for t in _scope_tables(scope) if (st := schema.table(t)) and st.column(column.name)]
        if len(owners) == 1:
            return owners[0]
    return "?"


def _tables(tree) -> frozenset[str]:
    from sqlglot import exp

    scopes = _scopes(tree)
    if scopes:
        return frozenset(t for s in scopes for t in _scope_tables(s))
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    return frozenset(t.name.lower() for t in tree.find_all(exp.Table) if t.name.lower() not in ctes)


def join_pairs(tree, schema: Schema | None = None) -> frozenset[frozenset[str]]:
    """Column equalities that link two different tables (JOIN ... ON, USING, or WHERE), as
    {"table.column", "table.column"} sets with aliases resolved to table names."""
    from sqlglot import exp

    pairs: set[frozenset[str]] = set()
    for scope in _scopes(tree):
        select = scope.expression
        if not isinstance(select, exp.Select):
            continue
        conditions = [(j.args.get("on"), True) for j in select.args.get("joins") or []]
        conditions.append((select.args.get("where"), False))
        for condition, in_join in conditions:
            if condition is None:
                continue
            for eq in condition.find_all(exp.EQ):
                if eq.find_ancestor(exp.Select) is not select:
                    continue  # belongs to a subquery, which has its own scope
                left, right = eq.this, eq.expression
                if not (isinstance(left, exp.Column) and isinstance(right, exp.Column)):
                    continue
                owners = (_column_owner(left, scope, schema), _column_owner(right, scope, schema))
                # Two known, different tables; or an unresolvable side inside JOIN ... ON.
                if owners[0] != owners[1] and "?" not in owners or in_join and "?" in owners:
                    pairs.add(frozenset((f"{owners[0]}.{left.name.lower()}", f"{owners[1]}.{right.name.lower()}")))
        for join in select.args.get("joins") or []:
            for name in join.args.get("using") or []:
                pairs.add(frozenset((f"using.{name.name.lower()}",)))
    return frozenset(pairs)


def _unknown_names(tree, schema: Schema) -> list[str]:
    """Tables the schema lacks, and columns a known table lacks (qualified, or unqualified where
    every source in scope is a known table and no output alias has that name)."""
    from sqlglot import exp

    known_tables = {t.name.lower() for t in schema.tables} | {t.name.lower().split(".")[-1] for t in schema.tables}
    unknown = [t for t in sorted(_tables(tree)) if t not in known_tables]
    for scope in _scopes(tree):
        tables = {name: schema.table(s.name) for name, s in scope.sources.items() if isinstance(s, exp.Table)}
        all_known = len(tables) == len(scope.sources) and all(tables.values())
        aliases = {e.alias.lower() for e in getattr(scope.expression, "expressions", []) if isinstance(e, exp.Alias)}
        for column in scope.columns:
            name = column.name
            if not name or name.lower() in aliases:
                continue
            if column.table:
                table = tables.get(column.table)
                if table is not None and table.column(name) is None:
                    unknown.append(f"{table.name}.{name}")
            elif all_known and tables and not any(t.column(name) for t in tables.values()):
                unknown.append(name)
    return unknown


def _outer_select(tree):
    from sqlglot import exp

    while isinstance(tree, exp.Subquery):
        tree = tree.this
    return tree if isinstance(tree, exp.Select) else None


def _other_columns_only(gold_tree, pred_tree, dialect: str) -> bool:
    """Whether the two outermost SELECTs return other table columns (not the same columns through
    another expression: `upper(name)` for `name` is a value error) and differ nowhere else."""
    gold, pred = _outer_select(gold_tree), _outer_select(pred_tree)
    if gold is None or pred is None:
        return False
    if _selected_columns(gold) == _selected_columns(pred):
        return False
    gold_rest, pred_rest = gold.copy(), pred.copy()
    for select in (gold_rest, pred_rest):
        select.set("expressions", [])
        select.set("order", None)  # ORDER BY often names the select list's aliases
    return _plain_sql(gold_rest, dialect) == _plain_sql(pred_rest, dialect)


def _selected_columns(select) -> frozenset[tuple[str, str]]:
    """The table columns a select list reads, as (table, name): aliases resolved to their tables, an
    unqualified column given the only source when there is one. `*` counts as a column."""
    from sqlglot import exp

    from_ = select.args.get("from_") or select.args.get("from")
    sources = ([from_.this] if from_ is not None else []) + [j.this for j in select.args.get("joins") or []]
    tables = {s.alias_or_name.lower(): (s.name if isinstance(s, exp.Table) else s.alias_or_name).lower() for s in sources}
    only = next(iter(tables.values())) if len(tables) == 1 else ""
    columns = set()
    for item in select.expressions:
        if isinstance(item, exp.Star):
            columns.add((only, "*"))
        for column in item.find_all(exp.Column):
            name = "*" if isinstance(column.this, exp.Star) else column.name.lower()
            table = tables.get(column.table.lower(), column.table.lower()) if column.table else only
            columns.add((table, name))
    return frozenset(columns)


def column_difference(gold_res: ExecutionResult, pred_res: ExecutionResult) -> str:
    """The result columns gold has and the prediction lacks, and the reverse, by name."""
    if not (gold_res.ok and pred_res.ok):
        return "columns differ"
    gold_names = [c.lower() for c in gold_res.columns]
    pred_names = [c.lower() for c in pred_res.columns]
    missing = [c for c in gold_names if c not in pred_names]
    extra = [c for c in pred_names if c not in gold_names]
    parts = []
    if missing:
        parts.append(f"missing column(s) {', '.join(missing)}")
    if extra:
        parts.append(f"extra column(s) {', '.join(extra)}")
    if not parts:
        parts.append(f"{len(pred_names)} column(s) against gold's {len(gold_names)}")
    return "; ".join(parts)


def categorize(
    gold_sql: str,
    pred_sql: str,
    gold_res: ExecutionResult,
    pred_res: ExecutionResult,
    verdict: MatchVerdict,
    schema: Schema | None = None,
    *,
    dialect: str = "duckdb",
    rules: MatchRules | None = None,
) -> str | None:
    """The error category of a prediction (see the module docstring for the order), None if correct."""
    if verdict.match:
        return None
    if not gold_res.ok:
        return "gold_error"
    kind = pred_res.error_kind
    if kind in ("timeout", "rejected"):
        return kind
    if kind == "syntax" or pred_res.guard_code is not None:  # refused unparsed: never parsed here, unbounded
        return "syntax_error" if kind == "syntax" or pred_res.guard_code == "syntax_error" else "rejected"
    pred_tree = _parse(pred_sql, dialect) if pred_sql.strip() else None
    if pred_tree is None:
        return "syntax_error"
    if kind in ("unknown_table", "unknown_column"):
        return "hallucinated_schema"
    if not pred_res.ok:
        if schema is not None and _unknown_names(pred_tree, schema):
            return "hallucinated_schema"
        return "runtime_error"
    if verdict.undecided:
        return "undecided_at_cap"
    gold_tree = _parse(gold_sql, dialect)
    if gold_tree is None:
        return "wrong_rows"  # nothing to compare the prediction's structure with
    if _tables(gold_tree) != _tables(pred_tree):
        return "wrong_table"
    gold_pairs, pred_pairs = join_pairs(gold_tree, schema), join_pairs(pred_tree, schema)
    if gold_pairs and pred_pairs and gold_pairs != pred_pairs:
        return "wrong_join_keys"
    date_columns = _date_columns(schema)
    gold_masked, gold_dates = _date_masked(gold_tree, dialect, date_columns)
    pred_masked, pred_dates = _date_masked(pred_tree, dialect, date_columns)
    if _aggregation_signature(gold_masked, dialect) != _aggregation_signature(pred_masked, dialect):
        return "wrong_aggregation"
    if len(gold_res.columns) != len(pred_res.columns) or _other_columns_only(gold_masked, pred_masked, dialect):
        return "wrong_columns"
    if gold_dates != pred_dates and _plain_sql(gold_masked, dialect) == _plain_sql(pred_masked, dialect):
        return "wrong_date_filter"
    rules = rules or MatchRules()
    order_checked = rules.order == "strict" or (rules.order == "auto" and gold_is_ordered(gold_sql, dialect))
    unordered = dataclasses.replace(rules, order="ignore")
    if order_checked and execution_match(gold_res, pred_res, gold_sql=gold_sql, rules=unordered, dialect=dialect).match:
        return "wrong_order"
    return "wrong_rows"


