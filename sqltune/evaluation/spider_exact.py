"""Exact match as Spider's evaluator defines it: two queries match when their clause components
match, compared as sets, with values masked and aliases resolved.

Spider (Yu et al., 2018; `evaluation.py`, the same in test-suite-sql-eval, Spider's official
evaluator since November 2020) parses a query into components and calls two queries an exact
match when every component agrees:

- SELECT: the select items as a multiset (order of columns ignored); DISTINCT is not compared,
  neither on the SELECT nor inside an aggregate (Spider's DISABLE_DISTINCT);
- FROM: the tables as a multiset. Join (ON) conditions are not compared: they count only through
  the keywords below (an OR, NOT, IN or LIKE in them);
- WHERE: the conditions as a multiset plus the set of AND/OR connectors, every literal masked
  (`age > 30` equals `age > 40`); HAVING: the conditions and connectors in their written order,
  literals masked (Spider compares the HAVING list as a list);
- GROUP BY: the keys in order; ORDER BY: the keys in order and one direction for the whole clause,
  the last one written (ASC when none is: Spider's parser keeps one `asc`/`desc` per clause, so
  `ORDER BY a DESC, b` equals `ORDER BY a ASC, b DESC`); LIMIT: present or not (its value masked);
- INTERSECT / UNION / EXCEPT and nested subqueries: compared recursively;
- keywords used: where, group, having, order, limit, the set operations, and or, not, in, like in
  the top-level ON, WHERE and HAVING conditions (those of a nested query count for that query).

`first_join_condition=True` also compares the first ON condition's two sides, unordered, when the
gold query reads several tables: a later revision of taoyds/spider's `evaluation.py` does this;
test-suite-sql-eval and Spider's original script do not, and most published Spider EM comes from them.

Table aliases resolve to table names (`T1.name` is `singer.name`), unqualified columns to the one
table in scope that has them (with a schema, or when one table is in scope), output aliases and
positions in GROUP BY / ORDER BY to the select item they name. With a schema, columns linked by
a foreign key count as one (Spider's foreign-key map), when their table is in the FROM clause. This is computed over sqlglot
ASTs, so it reads any SQL sqlglot parses, where Spider's own parser reads a subset of SQLite.
"""

from __future__ import annotations

from sqltune.schema.model import Schema

MASK = "value"
_Components = tuple


class _Scope:
    """The sources a SELECT can name: alias -> identity (a table name, or a subquery's components)."""

    def __init__(self, parent: "_Scope | None", schema: Schema | None):
        self.parent = parent
        self.schema = schema
        self.aliases: dict[str, str] = {}
        self.tables: list[str] = []  # real tables, for resolving unqualified columns

    def source(self, qualifier: str) -> str | None:
        scope: _Scope | None = self
        while scope is not None:
            if qualifier in scope.aliases:
                return scope.aliases[qualifier]
            scope = scope.parent
        return None

    def owner(self, column: str) -> str | None:
        scope: _Scope | None = self
        while scope is not None:
            if self.schema is not None:
                owners = [t for t in scope.tables if (table := self.schema.table(t)) is not None and table.column(column)]
                if len(owners) == 1:
                    return owners[0]
                if owners:
                    return None
            elif len(scope.aliases) == 1:
                return next(iter(scope.aliases.values()))
            if scope.aliases:
                return None  # the innermost scope with sources decides
            scope = scope.parent
        return None


def spider_components(sql: str, *, dialect: str = "duckdb", schema: Schema | None = None,
                      first_join_condition: bool = False) -> _Components | None:
    """The comparable components of `sql` (nested tuples), None when it is not a query."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except Exception:  # sqlglot raises several error types; any means "cannot read"
        return None
    while isinstance(tree, (exp.Subquery, exp.Paren)):
        tree = tree.this
    if not isinstance(tree, (exp.Select, exp.SetOperation)):
        return None  # not a query ("SELEC" parses as a column name)
    try:
        return _Reader(dialect, schema, first_join_condition).query(tree, None, {})
    except RecursionError:
        return None


def spider_exact_match(gold_sql: str, pred_sql: str, *, dialect: str = "duckdb", schema: Schema | None = None,
                       first_join_condition: bool = False) -> bool:
    """Whether `pred_sql` matches `gold_sql` component by component (see the module docstring);
    a prediction that does not parse never matches."""
    gold = spider_components(gold_sql, dialect=dialect, schema=schema, first_join_condition=first_join_condition)
    if gold is None:
        return False
    pred = spider_components(pred_sql, dialect=dialect, schema=schema, first_join_condition=first_join_condition)
    return pred is not None and pred == gold


class _Reader:
    def __init__(self, dialect: str, schema: Schema | None, first_join_condition: bool = False):
        self.dialect = dialect
        self.schema = schema
        self.first_join_condition = first_join_condition
        self.key_map = _foreign_key_map(schema)

    # -- queries ------------------------------------------------------------------------------------
    def query(self, node, outer: _Scope | None, ctes: dict[str, str]) -> _Components:
        from sqlglot import exp

        while isinstance(node, (exp.Subquery, exp.Paren)):
            node = node.this
        ctes = dict(ctes)
        with_ = node.args.get("with_") or node.args.get("with")
        if with_ is not None:
            for cte in with_.expressions:
                ctes[cte.alias_or_name.lower()] = "cte" + repr(self.query(cte.this, outer, ctes))
        if isinstance(node, exp.SetOperation):
            kind = type(node).__name__.lower()
            left = self.query(node.this, outer, ctes)
            right = self.query(node.expression, outer, ctes)
            order = self._order(node, None, outer, {}, [])
            return ("iuen", kind, bool(node.args.get("distinct", True)), left, right, order, node.args.get("limit") is not None)
        if not isinstance(node, exp.Select):
            return ("other", node.sql(dialect=self.dialect, normalize=True, comments=False).lower())
        return self._select(node, outer, ctes)

    def _select(self, select, outer: _Scope | None, ctes: dict[str, str]) -> _Components:
        from sqlglot import exp

        scope = _Scope(outer, self.schema)
        from_ = select.args.get("from_") or select.args.get("from")
        sources = ([from_.this] if from_ is not None else []) + [j.this for j in select.args.get("joins") or []]
        units = []
        for source in sources:
            if isinstance(source, exp.Table):
                name = source.name.lower()
                identity = ctes.get(name, name)
                if name not in ctes:
                    scope.tables.append(name)
            elif isinstance(source, exp.Subquery):
                identity = "sql" + repr(self.query(source.this, outer, ctes))
            else:
                identity = self._expr(source, scope, ctes)
            units.append(identity)
            scope.aliases[(source.alias_or_name or identity).lower()] = identity
        items = [self._expr(e.unalias() if isinstance(e, exp.Alias) else e, scope, ctes) for e in select.expressions]
        named = {e.alias.lower(): text for e, text in zip(select.expressions, items) if isinstance(e, exp.Alias)}
        where = select.args.get("where")
        having = select.args.get("having")
        group = select.args.get("group")
        group_keys = tuple(self._key(g, scope, ctes, named, items) for g in group.expressions) if group else ()
        join_key = self._first_join_key(select, scope, ctes) if self.first_join_condition and len(units) > 1 else ()
        where_parts = self._conditions(where.this, scope, ctes) if where is not None else ((), ())
        having_parts = tuple(self._sequence(having.this, scope, ctes)) if having is not None else ()
        order = self._order(select, scope, outer, named, items, ctes)
        limit = select.args.get("limit") is not None
        keywords = set()
        for word, present in (("where", where), ("group", group), ("having", having), ("order", order), ("limit", limit)):
            if present:
                keywords.add(word)
        ons = [join.args["on"] for join in select.args.get("joins") or [] if join.args.get("on") is not None]
        for condition in [*ons, *(c.this for c in (where, having) if c is not None)]:
            keywords |= _condition_keywords(condition)
        return ("select", tuple(sorted(units)), join_key, tuple(sorted(items)), where_parts, group_keys, having_parts, order,
                limit, tuple(sorted(keywords)))

    def _first_join_key(self, select, scope: _Scope, ctes: dict) -> tuple[str, ...]:
        """The two sides of the first JOIN ... ON condition, unordered (what Spider compares)."""
        from sqlglot import exp

        for join in select.args.get("joins") or []:
            condition = join.args.get("on")
            if condition is None:
                continue
            while isinstance(condition, (exp.And, exp.Paren)):
                condition = condition.this
            if isinstance(condition, exp.Binary):
                return tuple(sorted((self._expr(condition.this, scope, ctes), self._expr(condition.expression, scope, ctes))))
            return (self._expr(condition, scope, ctes),)
        return ()

    def _order(self, node, scope: _Scope | None, outer: _Scope | None, named: dict, items: list, ctes: dict | None = None) -> tuple:
        """(the keys in order, the clause's one direction): the last direction written, else asc."""
        order = node.args.get("order")
        if order is None:
            return ()
        scope = scope or _Scope(outer, self.schema)
        keys = tuple(self._key(o.this, scope, ctes or {}, named, items) for o in order.expressions)
        written = [o.args["desc"] for o in order.expressions if o.args.get("desc") is not None]
        return keys, "desc" if written and written[-1] else "asc"

    def _key(self, node, scope: _Scope, ctes: dict, named: dict, items: list) -> str:
        """A GROUP BY / ORDER BY term: a position or an output alias names a select item."""
        from sqlglot import exp

        if isinstance(node, exp.Literal) and not node.is_string and node.name.isdigit() and 0 < int(node.name) <= len(items):
            return items[int(node.name) - 1]
        if isinstance(node, exp.Column) and not node.table and node.name.lower() in named:
            owner = scope.owner(node.name.lower()) if self.schema is not None else None
            if owner is None:  # not a real column of a table in scope: the output alias
                return named[node.name.lower()]
        return self._expr(node, scope, ctes)

    def _conditions(self, node, scope: _Scope, ctes: dict) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """WHERE/HAVING as (conditions as a sorted multiset, the connectors used)."""
        from sqlglot import exp

        conditions: list[str] = []
        connectors: set[str] = set()

        def walk(n) -> None:
            if isinstance(n, exp.Paren) and isinstance(n.this, exp.Connector):
                walk(n.this)
            elif isinstance(n, exp.And):
                connectors.add("and")
                walk(n.this)
                walk(n.expression)
            elif isinstance(n, exp.Or):
                connectors.add("or")
                walk(n.this)
                walk(n.expression)
            else:
                conditions.append(self._expr(n, scope, ctes))

        walk(node)
        return tuple(sorted(conditions)), tuple(sorted(connectors))

    def _sequence(self, node, scope: _Scope, ctes: dict) -> list[str]:
        """A condition as Spider's list: conditions and connectors in their written order."""
        from sqlglot import exp

        if isinstance(node, exp.Paren) and isinstance(node.this, exp.Connector):
            return self._sequence(node.this, scope, ctes)
        if isinstance(node, (exp.And, exp.Or)):
            connector = "and" if isinstance(node, exp.And) else "or"
            return [*self._sequence(node.this, scope, ctes), connector, *self._sequence(node.expression, scope, ctes)]
        return [self._expr(node, scope, ctes)]

    # -- expressions ----------------------------------------------------------------------------------
    def _expr(self, node, scope: _Scope, ctes: dict) -> str:
        """`node` as text: columns resolved to table.column, literals masked, subqueries replaced by
        their components."""
        from sqlglot import exp

        root = exp.Paren(this=node.copy())
        replacements = []

        def visit(n) -> None:
            if n is not root and isinstance(n, (exp.Subquery, exp.Select, exp.SetOperation)):
                replacements.append((n, "(" + repr(self.query(n, scope, ctes)) + ")"))
                return
            if isinstance(n, exp.Column) and not isinstance(n.this, exp.Star):
                replacements.append((n, MASK if self._quoted_value(n, scope) else self._column(n, scope)))
                return
            if isinstance(n, exp.Literal) or isinstance(n, exp.Neg) and isinstance(n.this, exp.Literal):
                replacements.append((n, MASK))
                return
            if isinstance(n, exp.Distinct) and isinstance(n.parent, exp.AggFunc) and len(n.expressions) == 1:
                inner = n.expressions[0]
                n.replace(inner)  # count(DISTINCT x) reads as count(x), as in Spider
                visit(inner)
                return
            if isinstance(n, exp.In) and n.args.get("expressions") and all(
                isinstance(e, (exp.Literal, exp.Neg)) for e in n.args["expressions"]
            ):
                n.set("expressions", [exp.var(MASK)])
            for child in list(n.iter_expressions()):
                visit(child)

        visit(root)
        for target, text in replacements:
            target.replace(exp.var(text))
        return root.this.sql(dialect=self.dialect, normalize=True, comments=False).lower()

    def _quoted_value(self, column, scope: _Scope) -> bool:
        """A double-quoted name compared against (`country = "France"`): SQLite, and so Spider, reads
        it as a string when no column has that name."""
        from sqlglot import exp

        parent = column.parent
        return (
            column.this.quoted and not column.table and column.arg_key != "this"
            and isinstance(parent, (exp.Predicate, exp.In))
            and (self.schema is None or scope.owner(column.name.lower()) is None)
        )

    def _column(self, column, scope: _Scope) -> str:
        name = column.name.lower()
        if column.table:
            qualifier = column.table.lower()
            owner = scope.source(qualifier) or qualifier
        else:
            owner = scope.owner(name)
        if not owner:
            return name
        full = f"{owner}.{name}"
        return self.key_map.get(full, full) if owner in scope.tables else full


def _condition_keywords(node) -> set[str]:
    """Spider's keywords of one ON/WHERE/HAVING condition: `or` among its connectors, and `not`,
    `in`, `like` as the operators of its top-level conditions (not those of nested queries)."""
    from sqlglot import exp

    if isinstance(node, exp.Paren) and isinstance(node.this, exp.Connector):
        return _condition_keywords(node.this)
    if isinstance(node, (exp.And, exp.Or)):
        words = _condition_keywords(node.this) | _condition_keywords(node.expression)
        return words | {"or"} if isinstance(node, exp.Or) else words
    words = set()
    if isinstance(node, exp.Not):
        words.add("not")
        node = node.this
        while isinstance(node, exp.Paren):
            node = node.this
    if isinstance(node, exp.In):
        words.add("in")
    elif isinstance(node, exp.Like):
        words.add("like")
    return words


def _foreign_key_map(schema: Schema | None) -> dict[str, str]:
    """table.column -> the first (sorted) column of its foreign-key-linked group."""
    if schema is None:
        return {}
    groups: list[set[str]] = []
    for table in schema.tables:
        for key in table.foreign_keys:
            for column, ref_column in zip(key.columns, key.ref_columns):
                pair = {f"{table.name.lower()}.{column.lower()}", f"{key.ref_table.lower()}.{ref_column.lower()}"}
                linked = [g for g in groups if g & pair]
                merged = set(pair).union(*linked)
                groups = [g for g in groups if not g & pair] + [merged]
    return {member: min(group) for group in groups for member in group}

