#!/usr/bin/env bash
# The main job: set up, train a small GNN-PPO job-shop agent (SB3 MaskablePPO, random 6x6 instances,
# about a minute on one core), then evaluate it on Taillard 15x15 beside every dispatching rule (both
# schedule builders) and CP-SAT (10 s limit), and print the leaderboard. Every solution is validated.
# Running it again reuses a finished training run (one with summary.json), resumes an interrupted one
# (restarting it when it was killed before its first checkpoint), and resumes the evaluation.
# Outputs: $OUT/train (run folder: config, checkpoints, metrics) and $OUT/eval (results.csv, leaderboard.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export WANDB_MODE="${WANDB_MODE:-offline}"
OUT=${OUT:-runs/main}
if [ -f "$OUT/train/summary.json" ]; then
  echo "reusing the trained policy in $OUT/train (delete it or set OUT=... to train again)"
elif [ -f "$OUT/train/config.yaml" ]; then
  echo "resuming the interrupted training run in $OUT/train"
  .venv/bin/schedgym-train resume="$OUT/train"
else
  .venv/bin/schedgym-train preset=jobshop-small run_dir="$OUT/train"
fi
RULES="spt:nondelay,lpt:nondelay,mwkr:nondelay,lwkr:nondelay,mopnr:nondelay,fifo:nondelay,fdd-mwkr:nondelay"
RULES="$RULES,spt:active,lpt:active,mwkr:active,lwkr:active,mopnr:active,fifo:active,fdd-mwkr:active"
.venv/bin/schedgym-eval suite=taillard-15x15 out="$OUT/eval" \
  "policies=[$RULES,cpsat:10,gnn:$OUT/train/best.pt,gnn:jobshop-10x10]"
