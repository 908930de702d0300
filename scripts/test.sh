#!/usr/bin/env bash
# Sets up .venv and runs the test suite (long training/solver runs are marked slow and skipped;
# run them with: .venv/bin/pytest -m slow), then runs the contract and architecture tests again in a
# light venv (.venv-light: `pip install -e ".[dev]"`, no torch) to prove the base install works alone.
# Extra arguments go to the main pytest run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# headless Chromium for the leaderboard-site test (Debian packages; the test skips, naming them, without)
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing chromium + chromium-driver for the site test ..."
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      chromium chromium-driver; } >/tmp/schedgym-apt.log 2>&1 || echo "chromium not installed (see /tmp/schedgym-apt.log): the browser test will skip"
fi
export WANDB_MODE=disabled
export SCHEDGYM_DATA_MIRROR="${SCHEDGYM_DATA_MIRROR:-$(cd .. && pwd)/shared/data}"
.venv/bin/python -m pytest -q --timeout=900 "$@"

echo "light install (no torch): contract and architecture tests"
PYTHON=${PYTHON:-python3}
[ -x .venv-light/bin/python ] || "$PYTHON" -m venv .venv-light
log=.venv-light/install.log
.venv-light/bin/python -m pip install -e ".[dev]" >"$log" 2>&1 || { tail -n 60 "$log" >&2; exit 1; }
if .venv-light/bin/python -c "import torch" 2>/dev/null; then
  echo "the light venv has torch: the base install must not pull it" >&2
  exit 1
fi
.venv-light/bin/python -m pytest -q --timeout=900 tests/test_contract.py tests/test_architecture.py
