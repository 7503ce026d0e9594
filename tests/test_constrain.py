"""Schema-constrained decoding: the lexer's verdicts, and a property test with a tiny random model:
every identifier of every constrained query is a name of the shown schema or an alias the query defines."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot.tokens import TokenType

from sqltune.inference.constrain import KEYWORDS, SchemaConstraint, schema_names, start_lexer, vocab_index
from sqltune.schema.model import Column, Schema, Table

RETAIL = Schema("retail", [
    Table("stores", [Column("store_id", "INTEGER"), Column("city", "VARCHAR"), Column("region_id", "INTEGER")]),
    Table("regions", [Column("region_id", "INTEGER"), Column("region_name", "VARCHAR")]),
    Table("sales", [Column("sale_id", "INTEGER"), Column("store_id", "INTEGER"), Column("amount", "DOUBLE"),
                    Column("sold_on", "DATE")]),
], "duckdb")

# PostgreSQL: mixed case and a space need double quotes, and quoted names keep their case.
SHIPPING = Schema("shipping", [
    Table("Vessels", [Column("VesselId", "integer"), Column("vessel name", "text"), Column("tonnage", "numeric")]),
    Table("port_calls", [Column("call_id", "integer"), Column("VesselId", "integer"), Column("port", "text"),
                         Column("arrived", "timestamp")]),
], "postgres")

LIBRARY = Schema("library", [
    Table("books", [Column("book_id", "INT"), Column("title", "VARCHAR(200)"), Column("author_id", "INT")]),
    Table("authors", [Column("author_id", "INT"), Column("full_name", "VARCHAR(100)")]),
], "mysql")


def accepts(schema: Schema, text: str) -> bool:
    lexer = start_lexer(schema_names(schema))
    return lexer.feed(text) and lexer.end()


@pytest.mark.parametrize("text", [
    "SELECT city FROM stores",
    "SELECT COUNT(*) FROM sales",
    "SELECT s.city FROM stores AS s JOIN regions AS r ON s.region_id = r.region_id WHERE r.region_name = 'North'",
    "SELECT T1.city FROM stores AS T1",  # an alias used before FROM defines it
    "SELECT st.city, SUM(sa.amount) AS total FROM sales sa JOIN stores st ON sa.store_id = st.store_id GROUP BY st.city ORDER BY total DESC",
    "WITH big AS (SELECT store_id FROM sales WHERE amount > 50) SELECT COUNT(*) FROM big",
    "SELECT EXTRACT(year FROM sold_on), CAST(amount AS INTEGER) FROM sales",
    "SELECT \"city\" FROM \"stores\" WHERE city <> 'it''s' LIMIT 5",
    "SELECT CITY FROM Stores",
    "Here is the query:\nSELECT city FROM stores;",
    "SELECT x.store_id FROM (SELECT store_id, COUNT(*) AS n FROM sales GROUP BY store_id) x WHERE x.n > 1",
    "SELECT s.\"city\" FROM \"stores\" s WHERE s.region_id = 1",  # a quoted table takes an alias
    "SELECT AVG(sub.total) FROM (SELECT SUM(amount) AS total FROM sales GROUP BY store_id) sub",  # a subquery's output, used before it
    "SELECT city, SUM(amount) FROM sales JOIN stores USING (store_id) GROUP BY city",
    "SELECT city, (SELECT COUNT(*) FROM sales WHERE sales.store_id = stores.store_id) AS n FROM stores",  # correlated
    "SELECT city FROM stores WHERE store_id IN (SELECT store_id FROM sales WHERE region_id = 1)",  # region_id: the outer stores
    "SELECT COUNT(*) FROM (SELECT store_id FROM sales) x WHERE x.store_id > 3",
])
def test_lexer_accepts_queries_over_the_schema(text):
    assert accepts(RETAIL, text)


# Aliases used before the FROM that defines them, whatever their length or spelling (ATIS and
# restaurants write `SELECT CITYalias0.CITY_NAME FROM CITY AS CITYalias0 ...`), across subquery
# scopes. Each one runs in DuckDB (test_new_verdicts_agree_with_duckdb).
FORWARD_ALIASES = [
    "SELECT STORESalias0.city FROM stores AS STORESalias0 WHERE STORESalias0.region_id = 1",  # TABLEalias0 style
    "SELECT DISTINCT SALESalias0.store_id FROM sales AS SALESalias0 WHERE SALESalias0.store_id IN "
    "(SELECT STORESalias0.store_id FROM stores AS STORESalias0 WHERE STORESalias0.city = 'Boston')",
    "SELECT store_location.city, store_location.region_id FROM stores AS store_location",  # a long alias
    "SELECT sales.city FROM stores AS sales",  # an alias named like another table
    "SELECT stores.city FROM stores AS stores",  # ... or like its own table
    "SELECT city.city FROM stores AS city",  # ... or like a column
    "SELECT month.city FROM stores AS month WHERE month.region_id = 1",  # ... or like a keyword
    'SELECT "STORESalias0"."city" FROM "stores" AS "STORESalias0"',  # quoted
    'SELECT "store location".city FROM stores AS "store location"',
    "SELECT regions.n FROM (SELECT COUNT(*) AS n FROM sales) AS regions",  # a subquery aliased like a table
    # correlated: the subquery in the SELECT list uses the outer alias before the outer FROM
    "SELECT (SELECT COUNT(*) FROM sales AS sa WHERE sa.store_id = stores_alias.store_id) AS n FROM stores AS stores_alias",
    # one alias, other tables in other scopes
    "SELECT s.amount FROM sales AS s WHERE s.store_id IN (SELECT s.store_id FROM stores AS s WHERE s.city = 'Boston') AND s.amount > 5",
    "SELECT s.amount, (SELECT COUNT(*) FROM stores AS s) AS n FROM sales AS s",
    "SELECT s.city FROM stores s UNION SELECT s.region_name FROM regions s",
    "WITH x AS (SELECT s.city FROM stores s) SELECT s.amount FROM sales s",
    "SELECT s.amount FROM sales AS s WHERE s.store_id IN (SELECT s.amount FROM stores AS s)",  # DuckDB binds s.amount to the outer s
]

# ... while a name such an alias cannot give is still refused (by the end of the query at the latest).
FORWARD_REFUSALS = [
    "SELECT STORESalias0.amount FROM stores AS STORESalias0",
    "SELECT store_location.amount FROM stores AS store_location",
    "SELECT CITYalias0.city FROM stores",  # never defined
    "SELECT stores.amount FROM stores",  # the table itself, which lacks the column
    "SELECT sales.city FROM sales",
    "SELECT STORESalias0.city FROM stores AS STORESalias0 WHERE STORESalias0.amount > 1",
    'SELECT "STORESalias0"."amount" FROM "stores" AS "STORESalias0"',
    "SELECT (SELECT COUNT(*) FROM sales AS sa WHERE sa.store_id = st.amount) AS n FROM stores AS st",
    "SELECT s.amount FROM sales AS s WHERE s.store_id IN (SELECT s.colour FROM stores AS s)",
    "SELECT regions.totl FROM (SELECT COUNT(*) AS n FROM sales) AS regions",  # neither a column nor an output name
]


@pytest.mark.parametrize("text", FORWARD_ALIASES)
def test_aliases_of_any_name_may_be_used_before_their_from(text):
    assert accepts(RETAIL, text)


@pytest.mark.parametrize("text", FORWARD_REFUSALS)
def test_names_through_an_alias_used_before_its_from_are_checked(text):
    assert not accepts(RETAIL, text)


def test_new_verdicts_agree_with_duckdb(retail_duckdb):
    import duckdb

    con = retail_duckdb
    for sql in FORWARD_ALIASES:
        con.execute(sql).fetchall()
    for sql in FORWARD_REFUSALS:
        with pytest.raises((duckdb.BinderException, duckdb.CatalogException)):
            con.execute(sql).fetchall()


def test_a_word_before_from_may_grow_into_any_alias(tiny_model_dir):
    """Token masks: in a SELECT list any word may be an alias the FROM will define, and any name may
    follow its dot; after the FROM the qualifier's table decides again."""
    from transformers import AutoTokenizer

    from sqltune.inference.constrain import allowed_mask

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    index = vocab_index(tokenizer)
    names = schema_names(RETAIL)
    alias = tokenizer.encode("alias", add_special_tokens=False)
    assert len(alias) == 1 and index.strings[alias[0]] == "alias"
    assert allowed_mask(index, start_lexer(names, "SELECT STORES"), [])[alias[0]]
    assert allowed_mask(index, start_lexer(names, "SELECT STORESalias0."), [])[alias[0]]
    after = start_lexer(names, "SELECT STORESalias0.city FROM stores AS STORESalias0 WHERE STORESalias0.")
    words = {s for s in (index.strings[i] for i in allowed_mask(index, after, []).nonzero()[0]) if s[:1].isalpha()}
    assert words and all(any(c.startswith(s.lower()) for c in ("store_id", "city", "region_id")) for s in words)


@pytest.mark.parametrize("text", [
    "SELECT citx FROM stores",  # no such column
    "SELECT city FROM store",  # no such table
    "SELECT s.amount FROM stores s",  # stores has no amount
    "SELECT st.amount FROM stores AS st",
    "SELECT r.city FROM stores AS s JOIN regions AS r ON s.region_id = r.region_id",
    "SELECT T1.city FROM stores",  # T1 never defined
    "SELECT count FROM sales",  # a function that is not called
    "SELECT city FROM stores WHERE store_name = 'x'",
    "SELECT \"cityx\" FROM stores",
    "SELECT city FROM stores AS s JOIN \"region\" ON true",
    "SELECT city.store_id FROM stores",  # a column is no qualifier
    "SELECT s.\"amount\" FROM stores AS s",  # quoted: still a column of the qualifier's table
    "SELECT city FROM \"city\"",  # quoted: a table after FROM, not any name
    "SELECT AVG(sub.totl) FROM (SELECT SUM(amount) AS total FROM sales GROUP BY store_id) sub",
    "SELECT sub.amount FROM stores sub",
    # a column of a table the query does not read (after FROM, and in a SELECT list written before it)
    "SELECT COUNT(*) FROM stores WHERE amount > 5",
    "SELECT city, SUM(amount) FROM sales GROUP BY city",
    "SELECT region_name FROM stores",
    "SELECT sales.amount FROM sales AS s",  # an aliased table is named by its alias
    "SELECT s.amount FROM sales AS s WHERE sales.store_id = 1",
    "SELECT city FROM stores WHERE store_id IN (SELECT store_id FROM sales WHERE region_name = 'x')",
])
def test_lexer_refuses_names_outside_the_schema(text):
    assert not accepts(RETAIL, text)


def test_quoting_per_dialect():
    assert accepts(SHIPPING, 'SELECT "vessel name", v."VesselId" FROM "Vessels" AS v')
    assert not accepts(SHIPPING, 'SELECT "vesselid" FROM "Vessels"')  # quoted: PostgreSQL keeps the case
    assert not accepts(SHIPPING, 'SELECT "vessel nam" FROM "Vessels"')
    assert accepts(SHIPPING, "SELECT port, COUNT(*) FROM port_calls GROUP BY port")
    assert accepts(LIBRARY, "SELECT `title` FROM `books` WHERE title = \"Dune\"")  # MySQL: backticks quote names
    assert not accepts(LIBRARY, "SELECT `titles` FROM `books`")


def test_masks_allow_only_name_continuations(tiny_model_dir):
    from transformers import AutoTokenizer

    from sqltune.inference.constrain import allowed_mask

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    index = vocab_index(tokenizer)
    assert vocab_index(tokenizer) is index  # built once per tokenizer
    lexer = start_lexer(schema_names(RETAIL), "SELECT city FROM st")
    allowed = {index.strings[i] for i in allowed_mask(index, lexer, [tokenizer.eos_token_id]).nonzero()[0]}
    assert allowed and all("stores".startswith("st" + s.lower()) for s in allowed)
    lexer = start_lexer(schema_names(RETAIL), "SELECT city FROM stores WHERE city = 'Bos")
    assert allowed_mask(index, lexer, []).sum() > len(index.strings) // 2  # string literals are free


# -- the property: an independent check with sqlglot's tokenizer -----------------------------------------
def _before_from(tokens, i: int) -> bool:
    """Whether token `i` may come before the FROM of an open query (more SELECTs than FROMs before
    it): there a qualifier may be an alias of any table or subquery that FROM will define."""
    return sum(t.token_type == TokenType.SELECT for t in tokens[:i]) > sum(t.token_type == TokenType.FROM for t in tokens[:i])


def _tokens(sql: str, dialect: str):
    text = sql
    for _ in range(8):
        try:
            return sqlglot.tokenize(text, read=dialect)
        except Exception:  # an answer cut off inside a string or quoted name: drop the open part
            cut = max(text.rfind(q) for q in "'\"`")
            if cut < 0:
                raise
            text = text[:cut]
    return []


def unknown_identifiers(sql: str, schema: Schema, *, complete: bool) -> list[str]:
    """Identifiers in `sql` that are neither a name of `schema`, an alias or CTE the query defines,
    a keyword of the constraint's list, nor a called function."""
    dialect = schema.dialect
    sensitive = dialect == "postgres"
    tables = {t.name.lower(): t for t in schema.tables}
    columns = {c.name.lower() for t in schema.tables for c in t.columns}
    exact = {t.name for t in schema.tables} | {c.name for t in schema.tables for c in t.columns}
    tokens = _tokens(sql, dialect)
    names = {TokenType.VAR, TokenType.IDENTIFIER}
    aliases: dict[str, str | None] = {}
    for i, tok in enumerate(tokens):
        if tok.token_type not in names:
            continue
        prev = tokens[i - 1] if i else None
        before = tokens[i - 2] if i > 1 else None
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if prev is not None and prev.token_type == TokenType.ALIAS:  # AS x
            target = before.text.lower() if before is not None and before.text.lower() in tables else None
            aliases[tok.text.lower()] = target
        elif prev is not None and prev.token_type in names and prev.text.lower() in tables and before is not None \
                and before.token_type in (TokenType.FROM, TokenType.JOIN, TokenType.COMMA):
            aliases[tok.text.lower()] = prev.text.lower()  # FROM t x
        elif prev is not None and prev.token_type in (TokenType.R_PAREN, TokenType.WITH):
            aliases[tok.text.lower()] = None  # (subquery) x, WITH x AS (...)
        elif prev is not None and prev.token_type == TokenType.COMMA and nxt is not None and nxt.token_type == TokenType.ALIAS:
            aliases[tok.text.lower()] = None  # , y AS (...) in WITH
    bad = []
    last = max((i for i, t in enumerate(tokens) if t.token_type in names), default=-1)
    for i, tok in enumerate(tokens):
        if tok.token_type not in names or (not complete and i == last and i == len(tokens) - 1):
            continue  # an answer cut off by the token limit may end inside a name
        text, low = tok.text, tok.text.lower()
        prev = tokens[i - 1] if i else None
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        quoted = tok.token_type == TokenType.IDENTIFIER
        if low in aliases and (prev is None or prev.token_type != TokenType.DOT):
            continue
        if nxt is not None and nxt.token_type == TokenType.L_PAREN and not quoted:
            continue  # a function call (the constraint allows only the guard's functions)
        known = (text in exact if sensitive and quoted else low in {n.lower() for n in exact})
        if prev is not None and prev.token_type == TokenType.DOT and i > 1 and tokens[i - 2].token_type in names:
            qualifier = tokens[i - 2].text.lower()
            if not complete and _before_from(tokens, i):
                continue  # through an alias a FROM not yet written may define: checked when the query ends
            target = aliases.get(qualifier, qualifier if qualifier in tables else None)
            if target in tables:
                owned = {c.name.lower() for c in tables[target].columns}
                if low not in owned and not (sensitive and quoted and text in {c.name for c in tables[target].columns}):
                    bad.append(f"{qualifier}.{text}")
                continue
            if not (known or low in aliases):
                bad.append(f"{qualifier}.{text}")
            continue
        if nxt is not None and nxt.token_type == TokenType.DOT:
            if known or low in aliases or (not complete and _before_from(tokens, i)):
                continue
            bad.append(text)
            continue
        if known or (not quoted and low in KEYWORDS):
            continue
        bad.append(text)
    return bad


def test_checker_catches_unknown_names():
    assert unknown_identifiers("SELECT s.city FROM stores AS s", RETAIL, complete=True) == []
    assert unknown_identifiers("SELECT s.amount FROM stores AS s", RETAIL, complete=True) == ["s.amount"]
    assert unknown_identifiers("SELECT citx FROM stores", RETAIL, complete=True) == ["citx"]
    assert unknown_identifiers('SELECT "vesselid" FROM "Vessels"', SHIPPING, complete=True) == ["vesselid"]


class _WordBias:
    """Pushes a random model towards writing words, dots and quotes: the constraint must then keep
    every word within the schema."""

    def __init__(self, index, seed: int):
        import torch

        generator = torch.Generator().manual_seed(seed)
        self.bias = torch.randn(index.size, generator=generator) * 2.0
        for i, s in enumerate(index.strings):
            core = s.strip()
            if core.isalpha() or core in (".", ",", '"', "(", ")", "*", "=") or core.upper() in ("FROM", "WHERE", "AS", "JOIN", "ON"):
                self.bias[i] += 6.0

    def __call__(self, input_ids, scores):
        return scores + self.bias[: scores.shape[1]].to(scores.dtype)


@pytest.mark.parametrize("schema", [RETAIL, SHIPPING], ids=["duckdb", "postgres"])
def test_every_constrained_identifier_exists(tiny_model_dir, schema):
    import torch
    from transformers import AutoTokenizer, LogitsProcessorList

    from sqltune.inference.answer import extract_sql
    from sqltune.inference.models import load_model

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = load_model(str(tiny_model_dir))
    index = vocab_index(tokenizer)
    names = schema_names(schema)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Write SQL."}], tokenize=False, add_generation_prompt=True) + "SELECT"
    batch = tokenizer([prompt], return_tensors="pt", add_special_tokens=False)
    checked = identifiers = 0
    for seed in range(4):
        constraint = SchemaConstraint(tokenizer, [names], rows_per_prompt=4, answer_prefix="SELECT",
                                      end_ids=[tokenizer.eos_token_id], keep=None)
        torch.manual_seed(seed)
        out = model.generate(**batch, max_new_tokens=20, do_sample=True, num_return_sequences=4, top_k=0, temperature=1.0,
                             logits_processor=LogitsProcessorList([_WordBias(index, seed), constraint]),
                             eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
        for row in out[:, batch["input_ids"].shape[1]:].tolist():
            complete = tokenizer.eos_token_id in row
            text = "SELECT" + tokenizer.decode(row, skip_special_tokens=True)
            sql = extract_sql(text)
            bad = unknown_identifiers(sql, schema, complete=complete)
            assert bad == [], f"seed {seed}: {sql!r} names {bad}"
            checked += 1
            identifiers += sum(t.token_type in (TokenType.VAR, TokenType.IDENTIFIER) for t in _tokens(sql, schema.dialect))
    assert checked == 16
    assert identifiers >= 16  # the bias made the model write names: the property was exercised


def test_prompt_lookup_drafts_pass_the_constraint_probe(tiny_model_dir):
    """transformers' prompt lookup asks the logits processors about each drafted token with uniform
    scores; a constraint that keeps only its top valid token must not forbid every draft there
    (the drafts are verified against the model's constrained scores afterwards)."""
    import torch
    from transformers import AutoTokenizer, LogitsProcessorList
    from transformers.generation.candidate_generator import PromptLookupCandidateGenerator

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    names = schema_names(RETAIL, "duckdb")
    constraint = SchemaConstraint(tokenizer, [names], end_ids=[tokenizer.eos_token_id], keep=1)
    prompt = tokenizer("Example: SELECT city FROM stores WHERE city = 'Boston'\nQuestion: ...\n", return_tensors="pt").input_ids
    constraint(prompt, torch.randn(1, len(tokenizer)))  # the first step: the prompt ends here
    answer = tokenizer("SELECT city FROM", add_special_tokens=False, return_tensors="pt").input_ids
    ids = torch.cat([prompt, answer], dim=1)
    generator = PromptLookupCandidateGenerator(eos_token_id=torch.tensor([tokenizer.eos_token_id]), num_output_tokens=5,
                                               max_length=ids.shape[1] + 20,
                                               logits_processor=LogitsProcessorList([constraint]), vocab_size=len(tokenizer))
    candidates, _ = generator.get_candidates(ids)
    drafted = tokenizer.decode(candidates[0, ids.shape[1]:])
    assert drafted.startswith(" stores"), drafted
