"""Spider's exact match on known pairs: what must count as equal (aliases, column order, values)
and what must not (a clause changed)."""

from __future__ import annotations

import pytest

from sqltune.evaluation.spider_exact import spider_components, spider_exact_match
from sqltune.schema.model import Column, Schema, Table

SCHEMA = Schema("music", [
    Table("singer", [Column("id", "INTEGER"), Column("name", "TEXT"), Column("country", "TEXT"), Column("age", "INTEGER")]),
    Table("concert", [Column("id", "INTEGER"), Column("singer_id", "INTEGER"), Column("year", "INTEGER")]),
])


@pytest.mark.parametrize("gold,pred", [
    # alias renamed, or dropped
    ("SELECT T1.name FROM singer AS T1 WHERE T1.age > 30", "SELECT s.name FROM singer s WHERE s.age > 30"),
    ("SELECT T1.name FROM singer AS T1 WHERE T1.age > 30", "SELECT name FROM singer WHERE age > 30"),
    # select columns reordered
    ("SELECT name, age, country FROM singer", "SELECT country, name, age FROM singer"),
    # values changed (Spider masks them), quoted either way
    ("SELECT name FROM singer WHERE country = \"France\" AND age > 20", "SELECT name FROM singer WHERE age > 45 AND country = 'UK'"),
    ("SELECT name FROM singer ORDER BY age LIMIT 3", "SELECT name FROM singer ORDER BY age LIMIT 10"),
    # joins: table order and aliases, ORDER BY an output alias or a position
    ("SELECT T2.year, count(*) FROM singer AS T1 JOIN concert AS T2 ON T1.id = T2.singer_id GROUP BY T2.year ORDER BY count(*) DESC",
     "SELECT count(*) AS n, c.year FROM concert c JOIN singer s ON c.singer_id = s.id GROUP BY c.year ORDER BY n DESC"),
    ("SELECT name, age FROM singer ORDER BY 2", "SELECT name, age FROM singer ORDER BY age"),
    # DISTINCT is not compared (Spider's DISABLE_DISTINCT)
    ("SELECT count(DISTINCT country) FROM singer", "SELECT count(country) FROM singer"),
    ("SELECT DISTINCT name FROM singer", "SELECT name FROM singer"),
    # nested queries and set operations compared recursively
    ("SELECT name FROM singer WHERE id IN (SELECT singer_id FROM concert WHERE year = 2014)",
     "SELECT s.name FROM singer AS s WHERE s.id IN (SELECT c.singer_id FROM concert AS c WHERE c.year = 2015)"),
    ("SELECT name FROM singer WHERE age > 30 UNION SELECT name FROM singer WHERE country = 'UK'",
     "select NAME from SINGER where AGE > 40 union select name from singer where country = 'FR'"),
])
def test_equal_under_spider_rules(gold, pred):
    assert spider_exact_match(gold, pred, dialect="sqlite")
    assert spider_exact_match(gold, pred, dialect="sqlite", schema=SCHEMA)


@pytest.mark.parametrize("gold,pred", [
    ("SELECT name FROM singer WHERE age > 30", "SELECT name FROM singer WHERE id > 30"),  # different where column
    ("SELECT name FROM singer WHERE age > 30", "SELECT name FROM singer WHERE age < 30"),  # different operator
    ("SELECT country, count(*) FROM singer GROUP BY country", "SELECT country, count(*) FROM singer"),  # missing group by
    ("SELECT avg(age) FROM singer", "SELECT max(age) FROM singer"),  # different aggregate
    ("SELECT name FROM singer", "SELECT name, age FROM singer"),  # extra column
    ("SELECT name FROM singer ORDER BY age", "SELECT name FROM singer ORDER BY age DESC"),
    ("SELECT name FROM singer ORDER BY age LIMIT 1", "SELECT name FROM singer ORDER BY age"),  # limit dropped
    ("SELECT name FROM singer WHERE age > 1 AND id > 2", "SELECT name FROM singer WHERE age > 1 OR id > 2"),
    ("SELECT name FROM singer", "SELECT name FROM concert"),  # another table
    ("SELECT country FROM singer GROUP BY country HAVING count(*) > 1", "SELECT country FROM singer GROUP BY country"),
    ("SELECT name FROM singer WHERE id IN (SELECT singer_id FROM concert WHERE year = 2014)",
     "SELECT name FROM singer WHERE id IN (SELECT singer_id FROM concert WHERE id = 2014)"),  # nested clause changed
    ("SELECT name FROM singer UNION SELECT name FROM singer", "SELECT name FROM singer INTERSECT SELECT name FROM singer"),
    ("SELECT country, age, count(*) FROM singer GROUP BY country, age",
     "SELECT country, age, count(*) FROM singer GROUP BY age, country"),  # Spider compares GROUP BY in order
    ("SELECT name FROM singer", "SELEC name FROM"),  # a prediction that does not parse
])
def test_not_equal_when_a_clause_changes(gold, pred):
    assert not spider_exact_match(gold, pred, dialect="sqlite")
    assert not spider_exact_match(gold, pred, dialect="sqlite", schema=SCHEMA)


def test_unqualified_columns_resolve_through_the_schema():
    gold = "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.id = T2.singer_id WHERE T2.year > 2000"
    pred = "SELECT name FROM singer JOIN concert ON singer.id = concert.singer_id WHERE year > 2010"
    assert spider_exact_match(gold, pred, dialect="sqlite", schema=SCHEMA)
    assert not spider_exact_match(gold, pred, dialect="sqlite")  # without a schema `year` has no table


def test_join_conditions_are_not_compared_as_spider_does():
    """Spider's exact match (evaluation.py, test-suite-sql-eval) compares the tables of a FROM, not
    its ON conditions; an OR, NOT, IN or LIKE in them counts among the keywords."""
    gold = "SELECT 1 FROM singer JOIN concert ON singer.id = concert.singer_id AND singer.age > 1"
    assert spider_exact_match(gold, "SELECT 1 FROM concert AS c JOIN singer AS s ON c.singer_id = s.id AND s.age > 9")
    assert spider_exact_match(gold, "SELECT 1 FROM concert AS c JOIN singer AS s ON c.singer_id = s.id AND s.id < 9")
    assert spider_exact_match(gold, "SELECT 1 FROM singer JOIN concert ON singer.age = concert.year")  # other keys
    assert spider_exact_match(gold, "SELECT 1 FROM singer JOIN concert ON concert.id = singer.id")
    assert not spider_exact_match(gold, "SELECT 1 FROM singer JOIN concert ON singer.id = concert.singer_id OR singer.age > 1")
    assert not spider_exact_match(gold, "SELECT 1 FROM singer JOIN concert ON singer.name LIKE concert.year")
    assert not spider_exact_match(gold, "SELECT 1 FROM singer JOIN singer AS s2 ON singer.id = s2.id")  # another table
    assert spider_components("SELEC", dialect="sqlite") is None


def test_first_join_condition_switch_follows_the_later_spider_revision():
    gold = "SELECT 1 FROM singer JOIN concert ON singer.id = concert.singer_id AND singer.age > 1"
    strict = dict(first_join_condition=True)
    assert spider_exact_match(gold, "SELECT 1 FROM concert AS c JOIN singer AS s ON c.singer_id = s.id AND s.id < 9", **strict)
    assert not spider_exact_match(gold, "SELECT 1 FROM singer JOIN concert ON singer.age = concert.year", **strict)


@pytest.mark.parametrize("gold,pred,equal", [
    # one direction per clause, the last written (ASC when none is), as Spider's parser keeps it
    ("SELECT name FROM singer ORDER BY age DESC, name", "SELECT name FROM singer ORDER BY age, name DESC", True),
    ("SELECT name FROM singer ORDER BY age DESC, name ASC", "SELECT name FROM singer ORDER BY age, name", True),
    ("SELECT name FROM singer ORDER BY age DESC, name ASC", "SELECT name FROM singer ORDER BY age DESC, name DESC", False),
    ("SELECT name FROM singer ORDER BY age DESC, name", "SELECT name FROM singer ORDER BY age DESC, name DESC", True),
    ("SELECT name FROM singer ORDER BY age DESC, name", "SELECT name FROM singer ORDER BY age, name", False),
    # the keys still in order
    ("SELECT name FROM singer ORDER BY age, name", "SELECT name FROM singer ORDER BY name, age", False),
])
def test_order_by_has_one_direction_per_clause_as_in_spider(gold, pred, equal):
    assert spider_exact_match(gold, pred, dialect="sqlite") is equal
    assert spider_exact_match(gold, pred, dialect="sqlite", schema=SCHEMA) is equal


def test_having_conditions_compare_in_order_and_where_as_a_set():
    gold = "SELECT country FROM singer WHERE age > 1 AND id > 2 GROUP BY country HAVING count(*) > 1 AND avg(age) > 2"
    assert spider_exact_match(gold, "SELECT country FROM singer WHERE id > 5 AND age > 6 GROUP BY country "
                                    "HAVING count(*) > 3 AND avg(age) > 4")
    assert not spider_exact_match(gold, "SELECT country FROM singer WHERE age > 1 AND id > 2 GROUP BY country "
                                        "HAVING avg(age) > 2 AND count(*) > 1")


def test_columns_linked_by_a_foreign_key_count_as_one_with_a_schema():
    from sqltune.schema.model import ForeignKey

    concert = Table("concert", [Column("id", "INTEGER"), Column("singer_id", "INTEGER"), Column("year", "INTEGER")],
                    foreign_keys=[ForeignKey(("singer_id",), "singer", ("id",))])
    linked = Schema("music", [SCHEMA.tables[0], concert])
    gold = "SELECT T2.singer_id, count(*) FROM singer AS T1 JOIN concert AS T2 ON T1.id = T2.singer_id GROUP BY T2.singer_id"
    pred = "SELECT T1.id, count(*) FROM singer AS T1 JOIN concert AS T2 ON T1.id = T2.singer_id GROUP BY T1.id"
    assert spider_exact_match(gold, pred, dialect="sqlite", schema=linked)
    assert not spider_exact_match(gold, pred, dialect="sqlite", schema=SCHEMA)
