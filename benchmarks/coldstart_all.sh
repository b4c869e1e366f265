#!/usr/bin/env bash
# Regenerate the cold-start results of docs/benchmarks.md §2 (5 AKT folds each): JSON with provenance and leak
# audit, Markdown, curves, and the adaptation timings. Every cold-start method is on the sequence track.
# Usage: benchmarks/coldstart_all.sh [DATA_ROOT] [JOB ...]   jobs: assist2009_pid assist2015 adapt (default: all)
#   OUT=dir    write there instead of docs/results (curves beside the JSON)     FOLDS=1   only these folds
set -euo pipefail
root=${1:-${METATUTOR_DATA:-../shared/datasets}}
shift || true
out=${OUT:-docs/results}
plots=docs
if [ "$out" != docs/results ]; then plots=$out; fi
mkdir -p "$out"
folds=()
if [ -n "${FOLDS:-}" ]; then folds=(--folds "$FOLDS"); fi
jobs=("$@")
if [ ${#jobs[@]} -eq 0 ]; then jobs=(assist2009_pid assist2015 adapt); fi
for job in "${jobs[@]}"; do
  case $job in
    assist2009_pid)
      metatutor benchmark coldstart --data "$root/assist2009_pid" --protocol folds --track sequence "${folds[@]}" \
        --models population,scratch,map,finetune,dkt,irt,maml,fomaml,reptile,metasgd,proto,amortized,default \
        --json "$out/coldstart_assist2009_pid.json" --markdown "$out/coldstart_assist2009_pid.md" \
        --plot "$plots/coldstart_assist2009_pid.png" ;;
    assist2015)
      metatutor benchmark coldstart --data "$root/assist2015" --protocol folds --track sequence "${folds[@]}" \
        --models population,scratch,map,finetune,dkt,irt,metasgd,amortized,default \
        --json "$out/coldstart_assist2015.json" --markdown "$out/coldstart_assist2015.md" \
        --plot "$plots/coldstart_assist2015.png" ;;
    adapt)
      python benchmarks/adapt_speed.py --data "$root/assist2009_pid" --fold 1 --json "$out/adapt_speed_assist2009_pid.json" ;;
    *) echo "unknown job $job" >&2; exit 2 ;;
  esac
done
if [ "$out" = docs/results ]; then python benchmarks/render_tables.py; else python benchmarks/render_tables.py --results "$out"; fi
