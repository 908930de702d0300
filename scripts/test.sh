#!/usr/bin/env bash
# Sets up .venv and runs the test suite (long training/solver runs are marked slow and skipped;
# run them with: .venv/bin/pytest -m slow). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export WANDB_MODE=disabled
export SCHEDGYM_DATA_MIRROR="${SCHEDGYM_DATA_MIRROR:-$(cd .. && pwd)/shared/data}"
.venv/bin/python -m pytest -q --timeout=900 "$@"
