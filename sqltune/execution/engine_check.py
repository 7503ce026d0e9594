"""The database's own reading of a query: a second opinion beside the sqlglot guard.

Two gaps a guard that reads SQL with another parser leaves open (issue 27):

- a parser differential (F2): sqlglot read ``(SHOW x)`` as a table named SHOW, DuckDB ran SHOW;
- trust by name (F3): an allowed name can call something other than the built-in it names (a
  DuckDB macro ``upper``, a PostgreSQL overload ``md5(integer)`` that is SECURITY DEFINER, a
  user-defined operator, ``"Upper"(x)``).

So the sandbox worker, which holds a connection, asks the engine before a guarded query runs (and
on the check-only path):

- DuckDB (`duckdb_verdict`): its own parser's tree (``json_serialize_sql``) must be one SELECT
  made only of node types a query has (an allow-list: SHOW, DESCRIBE and SUMMARIZE in any position
  are ``SHOW_REF`` nodes, refused), and every function it calls must be an allowed name that is
  not a macro or UDF of the warehouse (`duckdb_user_functions`: ``duckdb_functions()`` entries
  that are not ``internal``).
- PostgreSQL (`postgres_verdict`): no function, operator or cast the query may call resolves,
  on the role's search path, to anything but a built-in of ``pg_catalog`` (an initdb object owned
  by the bootstrap superuser, not SECURITY DEFINER). Which overload PostgreSQL picks depends on
  argument types the guard cannot know, so an allowed name the warehouse overloads is refused
  whole, with the overload named.

Each returns a `GuardVerdict` with the guard's codes.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqltune.execution.guard import GuardPolicy, GuardVerdict
from sqltune.execution.guard_functions import allowed_functions, allowed_table_functions

OK = GuardVerdict(ok=True)


def _reject(code: str, reason: str) -> GuardVerdict:
    return GuardVerdict(ok=False, code=code, reason=reason)


# -- DuckDB ---------------------------------------------------------------------------------------
# Node types of DuckDB's serialised parse tree that a query is made of. Dicts with a "class" are
# expressions; the others are query nodes, table references and modifiers. Anything else (SHOW_REF,
# a parameter, a type DuckDB adds later) is refused: the list is an allow-list.
_QUERY_NODES = frozenset({"SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE"})
_TABLE_REFS = frozenset({"BASE_TABLE", "SUBQUERY", "JOIN", "TABLE_FUNCTION", "EXPRESSION_LIST", "EMPTY", "PIVOT"})
_MODIFIERS = frozenset({"ORDER_MODIFIER", "LIMIT_MODIFIER", "LIMIT_PERCENT_MODIFIER", "DISTINCT_MODIFIER",
                        "ORDER_DEFAULT", "ASCENDING", "DESCENDING"})
_EXPRESSIONS = frozenset({"BETWEEN", "CASE", "CAST", "COLLATE", "COLUMN_REF", "COMPARISON", "CONJUNCTION", "CONSTANT",
                          "FUNCTION", "LAMBDA", "LAMBDA_REF", "OPERATOR", "POSITIONAL_REFERENCE", "STAR", "SUBQUERY",
                          "WINDOW", "TYPE"})
_NODE_TYPES = _QUERY_NODES | _TABLE_REFS | _MODIFIERS
_SHOW_KINDS = {"SHOW": "SHOW", "DESCRIBE": "DESCRIBE", "SUMMARY": "SUMMARIZE"}
_SYMBOLIC = re.compile(r"[^\w\s]+")  # an operator's name: "+", "~~", "->>"


def duckdb_user_functions(connection: Any) -> frozenset[str]:
    """Lower-case names of the warehouse's own functions: macros, table macros and UDFs (every
    ``duckdb_functions()`` entry that is not ``internal``). A macro named ``upper`` shadows the
    built-in, so these names are refused whatever the allow-list says."""
    rows = connection.execute("SELECT DISTINCT lower(function_name) FROM duckdb_functions() WHERE NOT internal").fetchall()
    return frozenset(r[0] for r in rows)


def duckdb_tree(connection: Any, sql: str) -> dict:
    """DuckDB's parse of `sql`, as its JSON serialiser writes it (parsing only: nothing runs)."""
    return json.loads(connection.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])


def duckdb_verdict(connection: Any, sql: str, policy: GuardPolicy, user_functions: frozenset[str] = frozenset()) -> GuardVerdict:
    """Whether DuckDB's own parser reads `sql` as one query of allowed parts (see the module doc)."""
    tree = duckdb_tree(connection, sql)
    if tree.get("error"):
        message = str(tree.get("error_message") or "cannot parse")
        if tree.get("error_type") == "parser":
            return _reject("syntax_error", f"DuckDB's parser: {message}")
        return _reject("not_a_query", f"DuckDB does not read this as a query ({message})")
    statements = tree.get("statements") or []
    if len(statements) != 1:
        return _reject("multiple_statements", f"exactly one statement allowed, DuckDB's parser found {len(statements)}")
    return _duckdb_nodes(statements[0], policy, user_functions)


def _duckdb_nodes(root: dict, policy: GuardPolicy, user_functions: frozenset[str]) -> GuardVerdict:
    table = allowed_table_functions("duckdb")
    allowed = allowed_functions("duckdb") | table
    stack: list[Any] = [root]
    while stack:  # iterative: a deep tree must not exhaust the stack
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        kind, klass = node.get("type"), node.get("class")
        if klass is not None:
            if klass not in _EXPRESSIONS:
                return _reject("not_a_query", f"DuckDB reads a {klass} expression here; it is not allowed in a query")
        elif isinstance(kind, str):
            if kind == "SHOW_REF":
                shown = _SHOW_KINDS.get(str(node.get("show_type")), "SHOW")
                return _reject("not_a_query", f"{shown} is not a query, in parentheses neither (DuckDB runs it as a "
                                              "subquery); only SELECT queries are allowed")
            if kind not in _NODE_TYPES:
                return _reject("not_a_query", f"DuckDB reads a {kind} node here; only queries over tables are allowed")
            if kind == "TABLE_FUNCTION":
                function = node.get("function") or {}
                name = str(function.get("function_name") or "").lower()
                if name not in table and name not in policy.functions:
                    return _reject("forbidden_function", f"table function {name}() is not allowed "
                                                         f"(allowed in FROM: {', '.join(sorted(table))})")
        if "function_name" in node:
            refusal = _duckdb_call(node, allowed, policy, user_functions)
            if refusal is not None:
                return refusal
        stack.extend(v for v in node.values() if isinstance(v, (dict, list)))
    return OK


def _duckdb_call(node: dict, allowed: frozenset[str], policy: GuardPolicy, user_functions: frozenset[str]) -> GuardVerdict | None:
    name = str(node.get("function_name") or "")
    lower = name.lower()
    if node.get("schema") or node.get("catalog"):
        where = ".".join(p for p in (node.get("catalog"), node.get("schema")) if p)
        return _reject("forbidden_function", f"qualified function call {where}.{name}() is not allowed; "
                                             "call a built-in function unqualified")
    if lower in policy.functions:
        return None
    if lower in user_functions:
        return _reject("forbidden_function", f"{name}() is a macro or function defined in this warehouse, not DuckDB's "
                                             "built-in: only DuckDB's own functions may be called")
    if lower in allowed or (node.get("is_operator") and _SYMBOLIC.fullmatch(name)):
        return None
    return _reject("forbidden_function", f"function {name}() is not allowed: only known pure duckdb functions may be called")


# -- PostgreSQL -----------------------------------------------------------------------------------
# A built-in: made by initdb (OID below FirstNormalObjectId), in pg_catalog, owned by the bootstrap
# superuser (OID 10), not SECURITY DEFINER. Anything else on the role's search path is the warehouse's.
# (_PG_FUNCTIONS runs with a parameter, so its "%%" reaches the server as "%".)
_PG_FUNCTIONS = """
SELECT p.proname, format('%%s.%%s(%%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
       p.prosecdef, pg_get_userbyid(p.proowner), p.pronargs
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.proname = ANY(%s::text[]) AND n.nspname = ANY(current_schemas(true))
  AND NOT (n.nspname = 'pg_catalog' AND p.oid < 16384 AND p.proowner = 10 AND NOT p.prosecdef)
"""
_PG_OPERATORS = """
SELECT o.oprname, format('%s.%s(%s, %s)', n.nspname, o.oprname, format_type(o.oprleft, NULL), format_type(o.oprright, NULL)),
       o.oprcode::regprocedure::text, pg_get_userbyid(o.oprowner)
FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
WHERE n.nspname = ANY(current_schemas(true))
  AND NOT (n.nspname = 'pg_catalog' AND o.oid < 16384 AND o.oprowner = 10)
"""
# Casts the warehouse added that call a function: named by their user-defined side (a cast between
# built-in types, which only a superuser can add, by both).
_PG_CASTS = """
SELECT s.typname, t.typname, s.oid >= 16384, t.oid >= 16384,
       format('CAST (%s AS %s) WITH FUNCTION %s', format_type(c.castsource, NULL), format_type(c.casttarget, NULL),
              c.castfunc::regprocedure)
FROM pg_cast c JOIN pg_type s ON s.oid = c.castsource JOIN pg_type t ON t.oid = c.casttarget
WHERE c.castfunc <> 0 AND (c.oid >= 16384 OR c.castfunc >= 16384)
"""
_PG_OPERATOR_TEXT = re.compile(r"[+\-*/<>=~!@#%^&|`?]+")
_PG_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
# Operators PostgreSQL applies without their symbol in the text (IN and CASE compare with "=",
# BETWEEN with "<=" and ">=", LIKE is "~~", ORDER BY and GROUP BY sort and compare ...).
_PG_IMPLICIT_OPERATORS = frozenset({"=", "<>", "<", ">", "<=", ">=", "~~", "~~*", "!~~", "!~~*", "~", "~*", "!~", "!~*"})
_PG_IMPLICIT_WORDS = frozenset({
    "in", "any", "some", "all", "case", "nullif", "between", "like", "ilike", "similar", "distinct", "using",
    "natural", "order", "group", "partition", "union", "intersect", "except", "greatest", "least", "min", "max",
})


def _pg_tokens(sql: str) -> tuple[set[str], set[str], set[str], list[str]]:
    """What `sql` may call, as PostgreSQL folds names: words followed by "(", words after ".",
    all words, and the operator lexemes (adjacent operator characters, joined). Strings and
    comments are not looked into."""
    import sqlglot
    from sqlglot.tokens import TokenType

    tokens = sqlglot.Dialect.get_or_raise("postgres").tokenize(sql)
    calls: set[str] = set()
    attributes: set[str] = set()
    words: set[str] = set()
    operators: list[str] = []
    last_end = -2
    for i, token in enumerate(tokens):
        if token.token_type.name.endswith("STRING"):
            continue
        quoted = token.token_type == TokenType.IDENTIFIER
        if quoted or _PG_WORD.fullmatch(token.text):
            name = token.text if quoted else token.text.lower()
            words.add(name)
            following = tokens[i + 1].token_type if i + 1 < len(tokens) else None
            if following == TokenType.L_PAREN:
                calls.add(name)
            elif i > 0 and tokens[i - 1].token_type == TokenType.DOT:
                attributes.add(name)
        elif _PG_OPERATOR_TEXT.fullmatch(token.text):
            if operators and token.start == last_end + 1:
                operators[-1] += token.text
            else:
                operators.append(token.text)
            last_end = token.end
    return calls, attributes, words, operators


def postgres_verdict(connection: Any, sql: str, policy: GuardPolicy) -> GuardVerdict:
    """Whether every function, operator and cast `sql` may call is a built-in of ``pg_catalog``
    (see the module doc), asked of the catalog on `connection` (a psycopg2 connection) now."""
    calls, attributes, words, operators = _pg_tokens(sql)
    with connection.cursor() as cursor:
        cursor.execute(_PG_FUNCTIONS, (sorted(calls | attributes),))
        functions = cursor.fetchall()
        cursor.execute(_PG_OPERATORS)
        user_operators = cursor.fetchall()
        cursor.execute(_PG_CASTS)
        casts = cursor.fetchall()
    for name, signature, definer, owner, nargs in functions:
        if name.lower() in policy.functions and name == name.lower():
            continue  # the user vouches for it
        how = f"{'SECURITY DEFINER, ' if definer else ''}owner {owner}"
        if name in calls:
            return _reject("forbidden_function", f"{name}() may call {signature} ({how}), which this warehouse defines, not "
                                                 "the built-in: only PostgreSQL's own functions may be called")
        if nargs == 1:
            return _reject("forbidden_function", f".{name} may call {signature} ({how}) by attribute notation; "
                                                 "only PostgreSQL's own functions may be called")
    for symbol, signature, code, owner in user_operators:
        if any(symbol in lexeme for lexeme in operators):
            return _reject("forbidden_function", f"operator {symbol} may call {signature} (function {code}, owner "
                                                 f"{owner}), which this warehouse defines: only built-in operators are allowed")
        implicit = sorted(words & _PG_IMPLICIT_WORDS)
        if symbol in _PG_IMPLICIT_OPERATORS and implicit:
            return _reject("forbidden_function", f"{implicit[0].upper()} compares with operator {symbol}, and this warehouse "
                                                 f"defines {signature} (function {code}): only built-in operators are allowed")
    for source, target, source_own, target_own, cast in casts:
        names = {n for n, own in ((source, source_own), (target, target_own)) if own} or {source, target}
        if names & words:
            return _reject("forbidden_function", f"a cast may call {cast}, which this warehouse defines: "
                                                 "only built-in casts are allowed")
    return OK
