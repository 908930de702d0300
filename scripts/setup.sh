#!/usr/bin/env bash
# Creates .venv (if missing) and installs schedgym with every extra (train, rllib) and the test tools. Idempotent.
# torch 2.13.0 is installed first: its CPU wheel is what these machines carry, and a torch range that
# admits a newer release would pull several GB of CUDA packages.
# pip's output goes to .venv/install.log and is printed only if the install fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
log=.venv/install.log
run() { "$@" >>"$log" 2>&1 || { echo "install step failed: $*" >&2; tail -n 60 "$log" >&2; exit 1; }; }
: >"$log"
echo "installing schedgym into $(pwd)/.venv (log: $log) ..."
run .venv/bin/python -m pip install --upgrade pip setuptools wheel
run .venv/bin/python -m pip install "torch==2.13.0"
run .venv/bin/python -m pip install -e ".[all,dev]"
echo "schedgym installed"
