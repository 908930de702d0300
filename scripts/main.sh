#!/usr/bin/env bash
# The main job: set up, then evaluate the job-shop baselines (every dispatching rule with both
# schedule builders, and CP-SAT with a 10 s limit) on Taillard 15x15 and print the leaderboard.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export WANDB_MODE="${WANDB_MODE:-offline}"
OUT=${OUT:-runs/main}
.venv/bin/schedgym-eval suite=taillard-15x15 out="$OUT/eval" progress=true
