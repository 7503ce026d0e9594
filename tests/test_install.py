"""A wheel, not the checkout: `pip install .` (not editable) carries everything the fixture and the
main job need (fixture specs, recipes), and both run from a directory outside the repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


def _run(args: list[str], *, cwd: Path, env: dict, timeout: int = 1500) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args}: exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """The package built as a wheel and installed into a folder of its own (dependencies from this venv)."""
    root = tmp_path_factory.mktemp("install")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"), str(REPO)], cwd=root, env=dict(os.environ))
    (wheel,) = (root / "dist").glob("sqltune-*.whl")
    _run([*pip, "install", "--no-deps", "--target", str(root / "site"), str(wheel)], cwd=root, env=dict(os.environ))
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(root / "site"), "SQLTUNE_HOME": str(root / "home"),
           "SQLTUNE_REGISTRY": str(root / "registry.sqlite"), "COLUMNS": "250"}
    return {"root": root, "cwd": elsewhere, "env": env}


def test_the_wheel_is_what_runs(installed):
    code = "import sqltune, warehouse_fixtures; print(sqltune.__file__); print(warehouse_fixtures.__file__)"
    out = _run([sys.executable, "-c", code], cwd=installed["cwd"], env=installed["env"])
    for path in out.stdout.split():  # the fixture warehouses ship in the same wheel
        assert path.startswith(str(installed["root"] / "site"))


def test_fixture_builds_from_package_data(installed):
    _run([sys.executable, "-m", "sqltune", "fixture", "build", "harbor.duckdb"], cwd=installed["cwd"], env=installed["env"])
    assert (installed["cwd"] / "harbor.duckdb").stat().st_size > 1_000_000


def test_main_job_runs_from_any_directory(installed, tiny_model_dir):
    """The shipped recipe, shrunk to one step on the tiny model: fixture, its corpus, train, evaluate, report."""
    args = [sys.executable, "-m", "sqltune", "run", "harbor-cpu", "--out", "run", "--no-merge",
            "--set", f"train.base={tiny_model_dir}", "--set", "train.max_steps=1", "--set", "train.eval_fraction=0",
            "--set", "eval.limit=2", "--set", "eval.decode.max_new_tokens=4", "--set", "eval.spot_checks=false"]
    _run(args, cwd=installed["cwd"], env=installed["env"])
    run = installed["cwd"] / "run"
    assert (run / "adapter" / "adapter_config.json").exists()
    assert "execution accuracy" in (run / "report" / "report.md").read_text().lower()
