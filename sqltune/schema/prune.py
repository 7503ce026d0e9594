"""Per-question schema pruning: keep the tables a question needs, within a token budget.

A big warehouse does not fit a small model's prompt, and prompt length drives training time, so
each question sees only the tables most likely to matter:

1. score every table against the question: lexical overlap (question words vs. table and column
   names split on `_`/camelCase, comments and data values, IDF-weighted, light stemming; whole
   multi-word values; time words -> the date dimension) and, when the offline MiniLM package is
   installed, embedding similarity (weight 0.15: on the fixtures it adds little to lexical);
2. take the best tables (up to 6 scoring >= 35% of the top) together with the tables on the
   shortest foreign-key path (<= 2 tables between) to those already kept (a bridge, or the
   dimension a chosen fact references);
3. fill the rest of the budget by score, favouring neighbours of the tables already kept.

A schema whose full text fits the budget is never pruned. Kept tables come back in schema order,
so the same question always gives the same text. Everything that depends only on the schema
(token counts, the lexical index, table embeddings) is built once per schema object and cached:
pruning runs once per training example.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from sqltune.schema.model import Schema
from sqltune.schema.relevance import Scorer, _cached, default_scorer
from sqltune.schema.render import RenderOptions, render_schema, render_table

log = logging.getLogger(__name__)

TokenCounter = Callable[[str], int]


@dataclass
class PruneResult:
    """The pruned schema, which tables were kept, and each table's relevance score."""

    schema: Schema
    kept: list[str]
    scores: dict[str, float] = field(default_factory=dict)
    tokens: int = 0  # schema text tokens (for a pruned schema: an upper bound, see _Layout)
    pruned: bool = False
    over_budget: bool = False


# --------------------------------------------------------------------------- selection


@dataclass(frozen=True)
class SelectionPolicy:
    """How tables are picked once scored. `core_ratio`: a table scoring at least this share of the
    best score is "core" and brings its FK connectors; `neighbour_bonus`: added to the score of
    tables adjacent to a kept one when filling the rest of the budget."""

    core_ratio: float = 0.35
    max_core: int = 6
    neighbour_bonus: float = 0.15
    max_connector_hops: int = 3


@dataclass
class _Layout:
    """Per (schema, render options, token counter): token cost of each table and of the whole.

    The cost of a set of tables is taken as the sum of their blocks plus one separator each: an
    upper bound of the joined text's count (exact for the tokenizer-free estimate; BPE merges
    across a newline only ever lower it), so no text is re-tokenised per question.
    """

    block_tokens: list[int]
    full_tokens: int
    separator_tokens: int


def _layout(schema: Schema, options: RenderOptions, count_tokens: TokenCounter) -> _Layout:
    def build():
        blocks = [count_tokens(render_table(t, options, schema.dialect)) for t in schema.tables]
        return _Layout(blocks, count_tokens(render_schema(schema, options)), count_tokens("\n"))

    return _cached(schema, ("layout", options, count_tokens), build)


def _graph(schema: Schema) -> list[set[int]]:
    """Undirected foreign-key adjacency between table indexes."""

    def build():
        position = {t.name.lower(): i for i, t in enumerate(schema.tables)}
        adjacency: list[set[int]] = [set() for _ in schema.tables]
        for i, table in enumerate(schema.tables):
            for fk in table.foreign_keys:
                j = position.get(fk.ref_table.lower())
                if j is not None and j != i:
                    adjacency[i].add(j)
                    adjacency[j].add(i)
        return adjacency

    return _cached(schema, "graph", build)


def _connectors(start: int, kept: set[int], graph: list[set[int]], score: list[float], max_hops: int) -> list[int]:
    """Tables on the best shortest FK path from `start` to any kept table (empty if adjacent/none)."""
    if not kept or graph[start] & kept:
        return []
    # Breadth-first, remembering for each reached table the best-scoring path (sum of scores).
    frontier = {start: (0.0, [])}
    seen = {start}
    for _ in range(max_hops - 1):
        nxt: dict[int, tuple[float, list[int]]] = {}
        for node, (total, path) in sorted(frontier.items()):
            for neighbour in sorted(graph[node]):
                if neighbour in seen or neighbour in kept:
                    continue
                candidate = (total + score[neighbour], path + [neighbour])
                if neighbour not in nxt or candidate[0] > nxt[neighbour][0]:
                    nxt[neighbour] = candidate
        seen.update(nxt)
        reaching = [(-total, path) for node, (total, path) in nxt.items() if graph[node] & kept]
        if reaching:
            return min(reaching)[1]
        frontier = nxt
    return []


def schema_tokens(schema: Schema, count_tokens: TokenCounter, options: RenderOptions = RenderOptions()) -> int:
    """Tokens of the whole schema's text (cached per schema, options and counter)."""
    return _layout(schema, options, count_tokens).full_tokens


def prune_schema(
    schema: Schema,
    question: str,
    *,
    max_tokens: int,
    count_tokens: TokenCounter,
    scorer: Scorer | None = None,
    options: RenderOptions = RenderOptions(),
    policy: SelectionPolicy = SelectionPolicy(),
) -> PruneResult:
    """Keep the tables of `schema` most relevant to `question` whose text fits `max_tokens`."""
    layout = _layout(schema, options, count_tokens)
    if layout.full_tokens <= max_tokens or len(schema.tables) <= 1:
        return PruneResult(schema, schema.table_names, {}, layout.full_tokens, pruned=False)

    scores_by_name = (scorer or default_scorer()).score(schema, question)
    score = [scores_by_name.get(t.name, 0.0) for t in schema.tables]
    graph = _graph(schema)
    ranked = sorted(range(len(score)), key=lambda i: (-score[i], i))
    kept: list[int] = []
    used = 0

    def cost(indexes) -> int:
        return sum(layout.block_tokens[i] + layout.separator_tokens for i in indexes)

    def take(indexes) -> bool:
        nonlocal used
        extra = cost(indexes)
        if used + extra > max_tokens:
            return False
        kept.extend(indexes)
        used += extra
        return True

    top = score[ranked[0]]
    core = [i for i in ranked if top > 0 and score[i] >= policy.core_ratio * top][: policy.max_core] or ranked[:1]
    for i in core:
        if i in kept:
            continue
        bridge = _connectors(i, set(kept), graph, score, policy.max_connector_hops)
        if not take([i, *[b for b in bridge if b not in kept]]):
            take([i])
    if not kept:  # the best table alone exceeds the budget: keep it anyway, flagged
        kept.append(ranked[0])
        used = cost(kept)

    kept_set = set(kept)
    rest = [i for i in range(len(score)) if i not in kept_set]
    bonus = [policy.neighbour_bonus if graph[i] & kept_set else 0.0 for i in range(len(score))]
    for i in sorted(rest, key=lambda i: (-(score[i] + bonus[i]), i)):
        take([i])

    subset = schema.subset([schema.tables[i].name for i in sorted(kept)])
    return PruneResult(
        schema=subset,
        kept=subset.table_names,
        scores={t.name: round(s, 4) for t, s in zip(schema.tables, score)},
        tokens=used,
        pruned=True,
        over_budget=used > max_tokens,
    )


def table_rank(result: PruneResult) -> list[str]:
    """Table names by descending score (ties in schema order): for reports and debugging."""
    return [name for name, _ in sorted(result.scores.items(), key=lambda kv: -kv[1])]


__all__ = ["PruneResult", "SelectionPolicy", "prune_schema", "schema_tokens", "table_rank"]
