#!/usr/bin/env bash
# Regenerate the adaptive-testing results of docs/benchmarks.md §4: the BOBCAT-protocol runs (both tracks: `default`
# is sequence-only, `default-classmates` may add item-to-item answer effects), the simulation study, the exact
# bound and the step timing.
# Usage: benchmarks/cat_all.sh [DATA_ROOT] [JOB ...]
#   jobs: assist2009_pid assist2009_pid_sequence statics assist2015 simulation bound speed (default: all)
#   OUT=dir    write there instead of docs/results     FOLDS=1   only these folds
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
if [ ${#jobs[@]} -eq 0 ]; then jobs=(assist2009_pid assist2009_pid_sequence statics assist2015 simulation bound speed); fi
for job in "${jobs[@]}"; do
  case $job in
    assist2009_pid)
      metatutor benchmark cat --data "$root/assist2009_pid" --track all "${folds[@]}" \
        --selectors random,mfi,kl,meta,default,default-classmates \
        --json "$out/cat_assist2009_pid.json" --markdown "$out/cat_assist2009_pid.md" ;;
    assist2009_pid_sequence)  # the sequence-only headline of §4a on its own
      metatutor benchmark cat --data "$root/assist2009_pid" --track sequence "${folds[@]}" --selectors mfi,default \
        --json "$out/cat_sequence_assist2009_pid.json" --markdown "$out/cat_sequence_assist2009_pid.md" ;;
    statics|assist2015)
      metatutor benchmark cat --data "$root/$job" --track all "${folds[@]}" --selectors random,mfi,default,default-classmates \
        --json "$out/cat_$job.json" --markdown "$out/cat_$job.md" ;;
    simulation)
      metatutor benchmark cat --simulation --json "$out/cat_simulation.json" --markdown "$out/cat_simulation.md" \
        --plot "$plots/cat_simulation_rmse.png" ;;
    bound)
      python benchmarks/cat_bound.py --items 10 --json "$out/cat_bound.json" ;;
    speed)
      python benchmarks/cat_step_speed.py --items 20000 --json "$out/cat_step_speed.json" ;;
    *) echo "unknown job $job" >&2; exit 2 ;;
  esac
done
if [ "$out" = docs/results ]; then python benchmarks/render_tables.py; else python benchmarks/render_tables.py --results "$out"; fi
