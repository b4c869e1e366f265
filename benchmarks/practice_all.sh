#!/usr/bin/env bash
# Regenerate the practice-policy results of docs/benchmarks.md §5 (builtin simulator and the simulator fitted to
# assist2009_pid) with its learning curves, then re-render the tables.
# Usage: benchmarks/practice_all.sh [DATA_ROOT]      OUT=dir  write there instead of docs/results
set -euo pipefail
root=${1:-${METATUTOR_DATA:-../shared/datasets}}
out=${OUT:-docs/results}
plots=docs
if [ "$out" != docs/results ]; then plots=$out; fi
mkdir -p "$out"
metatutor benchmark practice --seed 1 --data "$root/assist2009_pid" --json "$out/practice_seed1.json" \
  --markdown "$out/practice_seed1.md" --plot "$plots/practice_curves.png"
if [ "$out" = docs/results ]; then python benchmarks/render_tables.py; else python benchmarks/render_tables.py --results "$out"; fi
