"""The documentation names only what exists: every repository path in backticks (inline or fenced) or
in a link, in README.md, CHANGELOG.md and docs/*.md, is a file or folder of this repository; every
relative link resolves, anchors included. And the README stays short enough to read in five minutes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_BYTES = 12_500

FENCED = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
INLINE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
# a repository path: one of the top-level folders the docs point into, then path characters
REPO_PATH = re.compile(r"(?<![\w./~-])((?:sqltune|warehouse_fixtures|bench|tests|docs|tools|eval|schemas|\.ci)/[\w./*<>-]*)")
PLACEHOLDER = re.compile(r"\b[A-Z][A-Z_]{2,}\b|<[^>/]+>")  # DATE, NAME, <db>: any name there


def _code(text: str) -> list[str]:
    """Fenced blocks and inline code spans (inline spans outside the fenced blocks)."""
    fenced = [m.group(0) for m in FENCED.finditer(text)]
    return fenced + INLINE.findall(FENCED.sub("", text))


def named_paths(text: str) -> set[str]:
    paths = set()
    for span in _code(text):
        for match in REPO_PATH.finditer(span):
            paths.add(match.group(1).rstrip(".,;:"))
    for target in LINK.findall(text):
        target = target.split("#", 1)[0]
        match = REPO_PATH.fullmatch(target.removeprefix("./"))
        if match:
            paths.add(match.group(1))
    return paths


def exists(path: str) -> bool:
    if (ROOT / path).exists():
        return True
    pattern = PLACEHOLDER.sub("*", path)
    return "*" in pattern and any(ROOT.glob(pattern.rstrip("/")))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in FENCED.sub("", path.read_text()).splitlines():
        if line.startswith("#"):
            base = slug(line.lstrip("#"))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(doc: Path) -> list[str]:
    problems = []
    for target in LINK.findall(FENCED.sub("", doc.read_text())):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (doc.parent / file_part).resolve() if file_part else doc
        if not linked.exists():
            problems.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            problems.append(f"{target}: no heading #{anchor} in {linked.name}")
    return problems


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_the_docs_name_exists(doc):
    missing = sorted(p for p in named_paths(doc.read_text()) if not exists(p))
    assert not missing, f"{doc.relative_to(ROOT)} names paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(doc):
    assert not broken_links(doc), broken_links(doc)


def test_the_check_sees_a_made_up_path(tmp_path):
    text = "The guard lives in `sqltune/guard.py`; see [the notes](docs/nowhere.md) and `bench/results/`.\n" \
           "```bash\npython tools/made_up.py --flag\n```\n"
    assert {p for p in named_paths(text) if not exists(p)} == {"sqltune/guard.py", "docs/nowhere.md", "tools/made_up.py"}
    assert exists("bench/results/real_pairs-DATE.md") and not exists("bench/results/nothing-DATE.md")
    doc = tmp_path / "doc.md"
    doc.write_text("# A title\n[ok](#a-title) [bad](#no-title) [gone](missing.md) [web](https://example.org)\n")
    assert broken_links(doc) == ["#no-title: no heading #no-title in doc.md", "missing.md: no such file"]


def test_the_readme_is_short():
    size = len((ROOT / "README.md").read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes; move detail to docs/ (at most {README_MAX_BYTES})"


def test_the_readme_holds_the_test_command_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci in (ROOT / "README.md").read_text()
