"""Report files: JSON that round-trips, Markdown with the Harbor-style table, and one
self-contained, escaped HTML page."""

from __future__ import annotations

import dataclasses

import base64
import json
import re

import pytest

from sqltune.evaluation.scores import Comparison, EvalReport, QuestionResult
from sqltune.evaluation.report import render_markdown, write_report

HOSTILE = '<script>alert("x")</script> & "quotes"'


def result(id: str, match: bool, *, category: str = "wrong_rows", difficulty: str = "easy", question: str | None = None) -> QuestionResult:
    return QuestionResult(
        id=id, question=question or f"How many {id}?", gold_sql=f"SELECT count(*) FROM {id}",
        pred_sql=f"SELECT count(*) FROM {id}" if match else "SELECT 1 WHERE 'a' < 'b'",
        difficulty=difficulty, tags=("count",), executable=True, execution_match=match, exact_match_normalized=match, exact_match_spider=match,
        raw_match=match, category=None if match else category, reason="same" if match else "row 1 differs",
        gold_rows=1, pred_rows=1, gold_elapsed_s=0.01, pred_elapsed_s=0.02, latency_s=0.4,
    )


@pytest.fixture
def reports() -> list[EvalReport]:
    prompt_only = [
        result("a", False, category="syntax_error"),
        result("b", False, difficulty="hard", question=HOSTILE),
        result("c", True, difficulty="hard"),
        result("d", False, category="wrong_join_keys"),
    ]
    adapter = [result("a", True), result("b", True, difficulty="hard", question=HOSTILE), result("c", True, difficulty="hard"), result("d", False, category="wrong_join_keys")]
    setup = {"model": "SmolLM2-135M-Instruct", "decoding": {"greedy": True}}
    return [
        EvalReport.from_results("prompt-only", prompt_only, rules="rows as multisets", setup=setup),
        EvalReport.from_results("adapter", adapter, rules="rows as multisets", setup={**setup, "adapter": "runs/1"}),
    ]


SPOT_CHECKS = [{"prompt": "Capital of France? <b>bold</b>", "answers": {"prompt-only": "Paris.", "adapter": "SELECT 'Paris'"}}]


def test_writes_json_markdown_and_html(tmp_path, reports):
    paths = write_report(reports, tmp_path / "out", spot_checks=SPOT_CHECKS, title="Harbor eval")
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"report.json", "report.md", "report.html"}
    document = json.loads(paths.json.read_text())
    assert document["title"] == "Harbor eval"
    assert Comparison.from_dict(document) == Comparison(reports)
    assert document["spot_checks"] == SPOT_CHECKS
    # Written by rename from a temp file in the same folder, readable like any other file.
    assert all(p.stat().st_mode & 0o044 == 0o044 for p in (paths.json, paths.markdown, paths.html))
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_markdown_has_the_harbor_table_and_breakdowns(reports):
    text = render_markdown(Comparison(reports))
    assert "| Metric | prompt-only | adapter |" in text
    assert "| Execution accuracy | 25.0% | 75.0% |" in text
    assert "| Executable rate | 100.0% | 100.0% |" in text
    assert "| Exact match, normalised SQL text (exact_match_normalized) | 25.0% | 75.0% |" in text
    assert "| Raw string match | 25.0% | 75.0% |" in text
    assert "| hard | 50.0% (n=2) | 100.0% (n=2) |" in text
    assert "| wrong_join_keys | 1 | 1 |" in text and "| syntax_error | 1 | 0 |" in text
    assert "| adapter | 2 | 0 |" in text  # fixed / broken against prompt-only
    assert "rows as multisets" in text and '"adapter": "runs/1"' in text
    # A pipe in user text cannot break the table.
    piped = EvalReport.from_results("a|b", [result("x", True)], rules="r")
    assert "| Metric | a\\|b |" in render_markdown(Comparison([piped]))


def test_markdown_lists_every_wrong_answer_with_category_and_reason(reports):
    text = render_markdown(Comparison(reports))
    section = text.split("## Wrong answers", 1)[1].split("## ", 1)[0]
    assert "| Model | Id | Category | Reason |" in section
    assert "| prompt-only | a | syntax_error | row 1 differs |" in section
    assert "| prompt-only | d | wrong_join_keys |" in section and "| adapter | d | wrong_join_keys |" in section
    assert "| c |" not in section and "| adapter | a |" not in section  # right answers are not listed
    assert "Spider components (exact_match_spider)" in text  # both exact-match figures, named


def test_markdown_breaks_down_several_databases_and_flags_undecided():
    one = result("a", True)
    two = dataclasses.replace(result("b", False, category="undecided_at_cap"), undecided=True)
    one, two = dataclasses.replace(one, db="shop"), dataclasses.replace(two, db="music")
    text = render_markdown(Comparison([EvalReport.from_results("p", [one, two], rules="r")]))
    assert "## By database" in text and "| music | EX 0.0%" in text and "| shop | EX 100.0%" in text
    assert "| b | music | undecided_at_cap |" in text
    assert "Undecided at the row cap:** p: 1 question(s)" in text and "Raise `--max-rows`" in text


def test_html_is_self_contained_and_escaped(tmp_path, reports):
    html = write_report(reports, tmp_path, spot_checks=SPOT_CHECKS).html.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "url(" not in html and "@import" not in html
    assert "https://" not in html and "http://" not in html
    # User text is escaped everywhere: the hostile question shows as text, never as a tag.
    assert HOSTILE not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert html.count("<script>") == 1  # only the page's own filter script
    # The Harbor table, the plots as embedded PNGs, the per-question table, spot checks, setup.
    assert '<table class="headline">' in html and "Execution accuracy" in html and "75.0%" in html
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 3  # headline, difficulty, categories
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert html.count('<tr data-model="prompt-only"') == 4 and html.count('<tr data-model="adapter"') == 4
    assert 'id="q-text"' in html and "wrong_join_keys" in html
    assert "General-capability spot checks" in html and "SELECT &#x27;Paris&#x27;" in html
    assert "SmolLM2-135M-Instruct" in html


def test_html_leaves_out_sections_without_data(tmp_path):
    plain = EvalReport.from_results("only", [QuestionResult(**{**vars(result("a", True)), "difficulty": None, "tags": ()})], rules="r")
    html = write_report([plain], tmp_path).html.read_text()
    assert "by difficulty" not in html and "Error categories" not in html and "spot checks" not in html
    assert len(re.findall(r"data:image/png;base64", html)) == 1


def test_write_report_needs_a_report(tmp_path):
    with pytest.raises(ValueError):
        write_report([], tmp_path)


def test_html_renders_in_chromium(tmp_path, reports):
    """Where Chromium is installed, the page renders headless (the screenshot is non-trivial)."""
    import shutil
    import subprocess

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no Chromium on this machine")
    page = write_report(reports, tmp_path, spot_checks=SPOT_CHECKS).html
    shot = tmp_path / "shot.png"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
        capture_output=True, timeout=60, check=False,
    )
    assert shot.is_file() and shot.stat().st_size > 20_000


def test_markdown_shows_the_predicted_and_gold_sql_of_each_wrong_answer(reports):
    piped = dataclasses.replace(result("e", False), pred_sql="SELECT a || `b` FROM\n  e", gold_sql="SELECT a FROM e")
    reports = [*reports[:1], EvalReport.from_results("adapter", [*reports[1].results, piped], rules="rows as multisets")]
    section = render_markdown(Comparison(reports)).split("## Wrong answers", 1)[1].split("## ", 1)[0]
    assert "| Model | Id | Category | Reason | Predicted SQL | Gold SQL |" in section
    assert "| prompt-only | a | syntax_error | row 1 differs | `SELECT 1 WHERE 'a' < 'b'` | `SELECT count(*) FROM a` |" in section
    # a pipe cannot break the table, a backtick not the code span, a newline not the row
    assert "| adapter | e | wrong_rows | row 1 differs | `` SELECT a \\|\\| `b` FROM e `` | `SELECT a FROM e` |" in section
    empty = dataclasses.replace(result("f", False), pred_sql="")
    assert "| f | wrong_rows | row 1 differs | (none) |" in render_markdown(Comparison([EvalReport.from_results("p", [empty], rules="r")]))


def test_markdown_records_the_answer_prefix_of_each_form(reports):
    same = [dataclasses.replace(r, setup={**r.setup, "answer_prefix": "SELECT"}) for r in reports]
    assert "Answer prefix (every form): `SELECT` — the forms are compared under the same" in render_markdown(Comparison(same))
    apart = [same[0], dataclasses.replace(same[1], setup={**same[1].setup, "answer_prefix": ""})]
    assert "Answer prefix: prompt-only: `SELECT`; adapter: none" in render_markdown(Comparison(apart))
    assert "Answer prefix" not in render_markdown(Comparison(reports))  # not recorded (eval score): not claimed
