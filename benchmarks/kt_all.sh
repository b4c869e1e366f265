#!/usr/bin/env bash
# Reproduce the `benchmark kt` tables of docs/benchmarks.md (5 folds, all five models).
# Usage: benchmarks/kt_all.sh [DATA_ROOT]   (default ../shared/datasets)
set -euo pipefail
root=${1:-${METATUTOR_DATA:-../shared/datasets}}
out=docs/results
mkdir -p "$out"
for spec in "assist2009_pid folds" "statics folds" "pykt_assist2015 pykt" "assist2015 folds"; do
  set -- $spec
  metatutor benchmark kt --data "$root/$1" --protocol "$2" --models irt,bkt,pfa,bestlr,dkt \
    --json "$out/kt_$1.json" --markdown "$out/kt_$1.md"
done
