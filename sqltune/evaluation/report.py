"""Write evaluation reports: JSON for machines, Markdown for a pull request, one HTML page for people.

The HTML page is self-contained (inline CSS and script, plots as base64 PNG, no external URL), so
it can be mailed or attached as a CI artifact and still open offline. Every piece of user text
(questions, SQL, model answers, labels) is escaped.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqltune.evaluation.scores import Comparison, EvalReport
from sqltune.core.paths import atomic_write_text

DEFAULT_TITLE = "sqltune evaluation"


@dataclass
class ReportPaths:
    directory: Path
    json: Path
    markdown: Path
    html: Path


def write_report(
    reports: Sequence[EvalReport],
    out_dir: str | Path,
    *,
    spot_checks: Sequence[Mapping[str, Any]] | None = None,
    title: str = DEFAULT_TITLE,
    learning_curve: Sequence[Mapping[str, Any]] | None = None,
) -> ReportPaths:
    """Write report.json, report.md and report.html for `reports` (one per model form) into `out_dir`.

    `spot_checks`: general-capability prompts answered by several forms, each
    ``{"prompt": str, "answers": {label: answer}}``, shown side by side in the HTML page.
    `learning_curve`: the adapter's held-out loss during training, ``{"step", "minutes", "eval_loss"}``
    points, plotted against training minutes.
    """
    if not reports:
        raise ValueError("write_report needs at least one EvalReport")
    from dataclasses import replace

    from sqltune.core.connections import mask_in

    # Setups name the warehouse: a URL's password must not reach a report file.
    reports = [replace(r, setup=mask_in(r.setup)) if r.setup else r for r in reports]
    comparison = Comparison(list(reports))
    checks = [dict(c) for c in spot_checks or []]
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    paths = ReportPaths(directory, directory / "report.json", directory / "report.md", directory / "report.html")
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    curve = [dict(p) for p in learning_curve or []]
    document = {"title": title, "generated_at": generated, **comparison.to_dict(), "spot_checks": checks,
                "learning_curve": curve}
    atomic_write_text(paths.json, json.dumps(document, indent=2, default=str))
    atomic_write_text(paths.markdown, render_markdown(comparison, title=title))
    atomic_write_text(paths.html, render_html(comparison, title=title, spot_checks=checks, generated_at=generated,
                                                learning_curve=curve))
    return paths



def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


# -- Markdown ---------------------------------------------------------------------------------------
def _md_cell(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _md_table(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return lines + [""]


def render_markdown(comparison: Comparison, *, title: str = DEFAULT_TITLE) -> str:
    """The report as Markdown: headline table, difficulty, tag, database and error-category tables,
    every wrong answer (id, category, one-line reason, the predicted SQL and the gold), the answer
    prefix each form was given, rules, setup."""
    labels = comparison.labels
    out = [f"# {title}", ""]
    out += _md_table(
        ["Metric", *labels],
        [[name, *map(_pct, values)] for name, values in comparison.headline_rows()]
        + [["Questions", *(r.n for r in comparison.reports)]],
    )
    if comparison.difficulties():
        out += ["## Execution accuracy by difficulty", ""]
        out += _md_table(["Difficulty", *labels], _slice_rows(comparison, "by_difficulty", comparison.difficulties()))
    if comparison.tags():
        out += ["## Execution accuracy by tag", ""]
        out += _md_table(["Tag", *labels], _slice_rows(comparison, "by_tag", comparison.tags()))
    if comparison.databases():
        out += ["## By database", ""]
        out += _md_table(["Database", *labels], _database_rows(comparison))
    if comparison.categories():
        out += ["## Error categories (wrong predictions)", ""]
        out += _md_table(
            ["Category", *labels], [[c, *(r.categories.get(c, 0) for r in comparison.reports)] for c in comparison.categories()]
        )
    undecided = [r for r in comparison.reports if r.undecided]
    if undecided:
        out += [
            "**Undecided at the row cap:** "
            + "; ".join(f"{_md_cell(r.label)}: {r.undecided} question(s)" for r in undecided)
            + ". Gold and prediction both returned more rows than the cap (`--max-rows`), so they could not be "
            "compared; they count as wrong. Raise `--max-rows` to decide them.",
            "",
        ]
    flips = _flip_rows(comparison)
    if flips:
        out += [f"## Questions that changed against {labels[0]}", ""]
        out += _md_table(["Model", "Fixed", "Broken"], flips)
    wrong = [(r.label, q) for r in comparison.reports for q in r.results if not q.execution_match]
    if wrong:
        out += ["## Wrong answers", ""]
        several, with_db = len(labels) > 1, bool(comparison.databases())
        header = ["Model"] * several + ["Id"] + ["Database"] * with_db + ["Category", "Reason", "Predicted SQL", "Gold SQL"]
        rows = [
            [label] * several + [q.id] + [q.db or ""] * with_db
            + [q.category or "", _one_line(q.reason), _md_code(_one_line(q.pred_sql, SQL_LIMIT)), _md_code(_one_line(q.gold_sql, SQL_LIMIT))]
            for label, q in wrong
        ]
        out += _md_table(header, rows)
    out += ["## Match rules and setup", ""]
    prefixes = _answer_prefixes(comparison)
    if prefixes:
        out += [prefixes, ""]
    shared_rules = len({r.rules for r in comparison.reports}) == 1
    if shared_rules:
        out += [f"Match rules (all): {comparison.reports[0].rules}", ""]
    for report in comparison.reports:
        out += [f"**{_md_cell(report.label)}**" + ("" if shared_rules else f" — {report.rules}"), ""]
        if report.setup:
            out += ["```json", json.dumps(report.setup, indent=2, default=str, sort_keys=True), "```", ""]
    return "\n".join(out)


def _slice_rows(comparison: Comparison, attr: str, keys: Sequence[str]) -> list[list[str]]:
    rows = []
    for key in keys:
        cells = []
        for report in comparison.reports:
            part = getattr(report, attr).get(key)
            cells.append("–" if part is None else f"{_pct(part.execution_accuracy)} (n={part.n})")
        rows.append([key, *cells])
    return rows


SQL_LIMIT = 400  # characters of a wrong answer's SQL shown in the Markdown table (report.json keeps it whole)


def _md_code(text: str) -> str:
    """SQL as an inline code span (pipes are escaped by the table cell); '(none)' for an empty answer."""
    if not text.strip():
        return "(none)"
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _answer_prefixes(comparison: Comparison) -> str:
    """Which answer prefix each form was given (recorded by the evaluation harness), in one line."""
    given = {r.label: r.setup["answer_prefix"] for r in comparison.reports if r.setup and "answer_prefix" in r.setup}
    if not given:
        return ""
    shown = {label: f"`{prefix}`" if prefix else "none" for label, prefix in given.items()}
    if len(set(shown.values())) == 1 and len(given) == len(comparison.reports):
        return (f"Answer prefix (every form): {next(iter(shown.values()))}" + (
            " — the forms are compared under the same prefilled start of the answer" if len(given) > 1 else ""))
    return ("Answer prefix: " + "; ".join(f"{_md_cell(label)}: {value}" for label, value in shown.items())
            + " — forms with different prefixes differ in more than their weights")


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _database_rows(comparison: Comparison) -> list[list[str]]:
    """Per database: execution accuracy, both exact-match figures and the question count."""
    rows = []
    for name in comparison.databases():
        cells = []
        for report in comparison.reports:
            part = report.by_db.get(name)
            cells.append("–" if part is None else (
                f"EX {_pct(part.execution_accuracy)}, EM spider {_pct(part.exact_match_spider)}, "
                f"EM normalized {_pct(part.exact_match_normalized)} (n={part.n})"))
        rows.append([name, *cells])
    return rows


def _flip_rows(comparison: Comparison) -> list[list[Any]]:
    base = comparison.labels[0]
    rows = []
    for label in comparison.labels[1:]:
        fixed, broken = comparison.flips(base, label)
        rows.append([label, len(fixed), len(broken)])
    return rows


# -- plots ------------------------------------------------------------------------------------------
_COLORS = ("#9aa5b1", "#2f6fdb", "#1f9e6e", "#d9822b", "#8e5bd9", "#c94f4f")


def _grouped_bars(groups: Sequence[str], series: Mapping[str, Sequence[float]], *, ylabel: str, percent: bool, title: str) -> str:
    """A grouped bar chart as a base64 PNG (matplotlib's Agg canvas, no pyplot global state)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(6.4, 3.6), dpi=110)
    axes = figure.add_subplot()
    count = max(1, len(series))
    bar = 0.8 / count
    for i, (name, values) in enumerate(series.items()):
        xs = [g + (i - (count - 1) / 2) * bar for g in range(len(groups))]
        ys = [100 * v if percent else v for v in values]
        bars = axes.bar(xs, ys, bar * 0.95, label=name, color=_COLORS[i % len(_COLORS)])
        axes.bar_label(bars, labels=[f"{y:.0f}" + ("%" if percent else "") for y in ys], fontsize=7, padding=1)
    axes.set_xticks(range(len(groups)), list(groups), fontsize=8, rotation=20 if len(groups) > 4 else 0, ha="right" if len(groups) > 4 else "center")
    pad = max(0, 3 - len(groups)) / 2  # one or two groups: keep bars as narrow as with three
    axes.set_xlim(-0.6 - pad, len(groups) - 0.4 + pad)
    axes.set_ylabel(ylabel, fontsize=9)
    axes.set_title(title, fontsize=10)
    if percent:
        axes.set_ylim(0, 110)
    else:
        top = max([v for values in series.values() for v in values] or [1])
        axes.set_ylim(0, top * 1.15 + 0.5)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(fontsize=8, frameon=False, ncols=min(count, 4), loc="upper center", bbox_to_anchor=(0.5, -0.14 if len(groups) <= 4 else -0.3))
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _plots(comparison: Comparison) -> list[tuple[str, str]]:
    """(caption, base64 PNG) for each chart the data supports."""
    labels = comparison.labels
    plots = []
    metrics = [name for name, _ in comparison.headline_rows()]
    by_label = {label: [values[i] for _, values in comparison.headline_rows()] for i, label in enumerate(labels)}
    plots.append(("Headline metrics per model form", _grouped_bars(metrics, by_label, ylabel="%", percent=True, title="Model forms compared")))
    difficulties = comparison.difficulties()
    if difficulties:
        series = {
            r.label: [r.by_difficulty[d].execution_accuracy if d in r.by_difficulty else 0.0 for d in difficulties]
            for r in comparison.reports
        }
        plots.append(("Execution accuracy by difficulty", _grouped_bars(difficulties, series, ylabel="execution accuracy (%)", percent=True, title="Accuracy by difficulty")))
    categories = comparison.categories()
    if categories:
        series = {r.label: [float(r.categories.get(c, 0)) for c in categories] for r in comparison.reports}
        plots.append(("Wrong predictions by error category", _grouped_bars(categories, series, ylabel="questions", percent=False, title="Error categories")))
    return plots


def _learning_curve_plot(points: Sequence[Mapping[str, Any]]) -> str:
    """Held-out loss against minutes since training began, and (where the points were scored)
    execution accuracy on a second axis, as a base64 PNG (step numbers annotated)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 3.6), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    minutes = [float(p["minutes"]) for p in points]
    losses = [float(p["eval_loss"]) for p in points]
    axes.plot(minutes, losses, marker="o", color="#1f6feb", label="held-out loss")
    for m, loss, p in zip(minutes, losses, points):
        axes.annotate(f"step {p.get('step', '?')}", (m, loss), textcoords="offset points", xytext=(4, 4), fontsize=8)
    axes.set_xlabel("training minutes")
    axes.set_ylabel("held-out loss")
    scored = [p for p in points if p.get("execution_accuracy") is not None]
    if scored:
        ex_axes = axes.twinx()
        ex_axes.plot([float(p["minutes"]) for p in scored], [100 * float(p["execution_accuracy"]) for p in scored],
                     marker="s", color="#d4721c", label=f"execution accuracy ({scored[0].get('ex_questions', '?')} questions, greedy)")
        ex_axes.set_ylabel("execution accuracy (%)")
        ex_axes.set_ylim(0, 100)
        lines = axes.get_lines()[:1] + ex_axes.get_lines()
        axes.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="center right")
    axes.set_title("Learning curve")
    axes.grid(alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# -- HTML -------------------------------------------------------------------------------------------
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
main{max-width:1160px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 10px;border-bottom:1px solid #dde1e6;padding-bottom:4px}
.muted{color:#68717c;font-size:12px}
table{border-collapse:collapse;background:#fff;margin:6px 0 12px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
th,td{border:1px solid #e1e4e8;padding:5px 9px;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
table.headline td.num{font-size:16px}
td.best{font-weight:700;color:#145c3a}
img{max-width:100%;background:#fff;border:1px solid #e1e4e8;margin:6px 0}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(540px,1fr));gap:12px}
figure{margin:0}figcaption{font-size:12px;color:#68717c}
pre{margin:0;white-space:pre-wrap;word-break:break-word;font:12px/1.35 ui-monospace,Menlo,Consolas,monospace}
.ok{color:#14804a;font-weight:700}.bad{color:#b42318;font-weight:700}
.cat{display:inline-block;padding:1px 6px;border-radius:9px;background:#fdecea;color:#8a1c12;font-size:12px}
.filters{display:flex;gap:10px;align-items:center;margin:8px 0;flex-wrap:wrap}
.filters input,.filters select{padding:4px 6px;font-size:13px}
table.questions{width:100%;table-layout:fixed}
table.questions td,table.spot td{font-size:13px}
table.spot{width:100%;table-layout:fixed}
.setup{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:12px}
.card{background:#fff;border:1px solid #e1e4e8;padding:10px}
"""

_SCRIPT = """
(function(){
  var text=document.getElementById('q-text'),model=document.getElementById('q-model'),verdict=document.getElementById('q-verdict'),
      count=document.getElementById('q-count'),rows=document.querySelectorAll('table.questions tbody tr');
  function apply(){
    var t=text.value.toLowerCase(),m=model.value,v=verdict.value,shown=0;
    rows.forEach(function(r){
      var ok=(!t||r.textContent.toLowerCase().indexOf(t)>=0)&&(!m||r.dataset.model===m)&&
             (!v||(v==='correct'?r.dataset.correct==='1':(v==='wrong'?r.dataset.correct==='0':r.dataset.category===v)));
      r.style.display=ok?'':'none'; if(ok)shown++;
    });
    count.textContent=shown+' of '+rows.length+' rows';
  }
  [text,model,verdict].forEach(function(e){e.addEventListener('input',apply);e.addEventListener('change',apply);});
  apply();
})();
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]], css: str = "") -> str:
    """A table from already-escaped cell HTML; `header` is plain text."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _num(text: str, best: bool = False) -> str:
    return f'<td class="num{" best" if best else ""}">{_e(text)}</td>'


def render_html(
    comparison: Comparison,
    *,
    title: str = DEFAULT_TITLE,
    spot_checks: Sequence[Mapping[str, Any]] = (),
    generated_at: str = "",
    learning_curve: Sequence[Mapping[str, Any]] = (),
) -> str:
    """One self-contained HTML page for the comparison (see the module docstring)."""
    labels = comparison.labels
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="muted">{_e(", ".join(f"{r.label}: {r.n} questions" for r in comparison.reports))}'
        f'{" · generated " + _e(generated_at) if generated_at else ""}</p>',
        "<h2>Headline</h2>",
        _headline_table(comparison),
    ]
    flips = _flip_rows(comparison)
    if flips:
        parts.append(f'<p class="muted">Against {_e(labels[0])}: ' + "; ".join(
            f"{_e(label)} fixes {fixed} and breaks {broken} question(s)" for label, fixed, broken in flips) + ".</p>")
    parts.append('<h2>Charts</h2><div class="charts">')
    plots = _plots(comparison)
    if learning_curve:
        title = "Learning curve: held-out loss" + (" and execution accuracy" if any(
            p.get("execution_accuracy") is not None for p in learning_curve) else "") + " against training minutes"
        plots.append((title, _learning_curve_plot(learning_curve)))
    for caption, png in plots:
        parts.append(f'<figure><img alt="{_e(caption)}" src="data:image/png;base64,{png}"><figcaption>{_e(caption)}</figcaption></figure>')
    parts.append("</div>")
    for heading, attr, keys in (
        ("Execution accuracy by difficulty", "by_difficulty", comparison.difficulties()),
        ("Execution accuracy by tag", "by_tag", comparison.tags()),
        ("Execution accuracy by database", "by_db", comparison.databases()),
    ):
        if keys:
            rows = [[f"<td>{_e(key)}</td>", *(_num(cell) for cell in cells)] for key, *cells in _slice_rows(comparison, attr, keys)]
            parts += [f"<h2>{_e(heading)}</h2>", _html_table([heading.split(" by ")[-1].capitalize(), *labels], rows)]
    if comparison.categories():
        rows = [
            [f'<td><span class="cat">{_e(c)}</span></td>', *(_num(str(r.categories.get(c, 0))) for r in comparison.reports)]
            for c in comparison.categories()
        ]
        parts += ["<h2>Error categories</h2>", _html_table(["Category", *labels], rows)]
    if spot_checks:
        parts += ["<h2>General-capability spot checks</h2>", _spot_check_table(spot_checks, labels)]
    parts += ["<h2>Match rules and setup</h2>", '<div class="setup">']
    for report in comparison.reports:
        setup = json.dumps(report.setup, indent=2, default=str, sort_keys=True) if report.setup else "(no setup recorded)"
        parts.append(f'<div class="card"><b>{_e(report.label)}</b><p class="muted">{_e(report.rules)}</p><pre>{_e(setup)}</pre></div>')
    parts.append("</div>")
    parts += ["<h2>Questions</h2>", _question_section(comparison)]
    parts += [f"<script>{_SCRIPT}</script>", "</main></body></html>"]
    return "\n".join(parts)


def _headline_table(comparison: Comparison) -> str:
    rows = []
    for name, values in comparison.headline_rows():
        best = max(values) if len(values) > 1 else None
        rows.append([f"<td>{_e(name)}</td>", *(_num(_pct(v), best is not None and v == best and v > 0) for v in values)])
    rows.append(["<td>Questions</td>", *(_num(str(r.n)) for r in comparison.reports)])
    latencies = [r.mean_latency_s for r in comparison.reports]
    if any(v is not None for v in latencies):
        rows.append(["<td>Mean generation latency</td>", *(_num("–" if v is None else f"{v:.2f} s") for v in latencies)])
    return _html_table(["Metric", *comparison.labels], rows, "headline")


def _spot_check_table(spot_checks: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> str:
    answer_labels = list(dict.fromkeys([*(label for c in spot_checks for label in (c.get("answers") or {}))]))
    ordered = [label for label in labels if label in answer_labels] + [label for label in answer_labels if label not in labels]
    rows = []
    for check in spot_checks:
        answers = check.get("answers") or {}
        rows.append(
            [f"<td><pre>{_e(check.get('prompt', ''))}</pre></td>"]
            + [f"<td><pre>{_e(answers.get(label, '–'))}</pre></td>" for label in ordered]
        )
    return _html_table(["Prompt", *ordered], rows, "spot")


def _question_section(comparison: Comparison) -> str:
    categories = comparison.categories()
    model_options = "".join(f'<option value="{_e(label)}">{_e(label)}</option>' for label in comparison.labels)
    verdict_options = '<option value="correct">correct</option><option value="wrong">wrong</option>' + "".join(
        f'<option value="{_e(c)}">{_e(c)}</option>' for c in categories
    )
    filters = (
        '<div class="filters">'
        '<input id="q-text" type="search" placeholder="filter by text (question, SQL, reason)" size="40">'
        f'<select id="q-model"><option value="">all models</option>{model_options}</select>'
        f'<select id="q-verdict"><option value="">all verdicts</option>{verdict_options}</select>'
        '<span id="q-count" class="muted"></span></div>'
    )
    rows = []
    for report in comparison.reports:
        for r in report.results:
            verdict = '<span class="ok">✓ match</span>' if r.execution_match else '<span class="bad">✗ wrong</span>'
            category = f'<br><span class="cat">{_e(r.category)}</span>' if r.category else ""
            extra = (" · exact (Spider)" if r.exact_match_spider else "") + (" · exact (normalised)" if r.exact_match_normalized else "")
            rows.append(
                f'<tr data-model="{_e(report.label)}" data-correct="{int(r.execution_match)}" data-category="{_e(r.category or "")}">'
                f"<td>{_e(r.id)}<br><span class='muted'>{_e(report.label)}{_e(' · ' + r.difficulty if r.difficulty else '')}</span></td>"
                f"<td>{_e(r.question)}</td><td><pre>{_e(r.gold_sql)}</pre></td><td><pre>{_e(r.pred_sql)}</pre></td>"
                f"<td>{verdict}{_e(extra)}{category}<br><span class='muted'>{_e(r.reason)}</span></td></tr>"
            )
    header = "".join(
        f'<th style="width:{w}">{name}</th>'
        for name, w in (("Id", "10%"), ("Question", "20%"), ("Gold SQL", "26%"), ("Predicted SQL", "26%"), ("Verdict", "18%"))
    )
    return f'{filters}<table class="questions"><thead><tr>{header}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
