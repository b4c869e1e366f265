#!/usr/bin/env bash
# Reproduce the cold-start tables and curves of docs/benchmarks.md (5 AKT folds each).
# Usage: benchmarks/coldstart_all.sh [DATA_ROOT]   (default ../shared/datasets)
set -euo pipefail
root=${1:-${METATUTOR_DATA:-../shared/datasets}}
out=docs/results
mkdir -p "$out"
metatutor benchmark coldstart --data "$root/assist2009_pid" --protocol folds \
  --models population,scratch,map,finetune,dkt,irt,maml,fomaml,reptile,metasgd,proto,amortized,default \
  --json "$out/coldstart_assist2009_pid.json" --markdown "$out/coldstart_assist2009_pid.md" \
  --plot docs/coldstart_assist2009_pid.png
metatutor benchmark coldstart --data "$root/assist2015" --protocol folds \
  --models population,scratch,map,finetune,dkt,irt,metasgd,amortized,default \
  --json "$out/coldstart_assist2015.json" --markdown "$out/coldstart_assist2015.md" --plot docs/coldstart_assist2015.png
python benchmarks/adapt_speed.py --data "$root/assist2009_pid" --fold 1 --json "$out/adapt_speed_assist2009_pid.json"
