#!/usr/bin/env bash
# Regenerate every `benchmark kt` result that docs/benchmarks.md quotes (§1 and §3), JSON and Markdown, each file
# written whole by one run (with its provenance and leak audit); then re-render the tables.
# Usage: benchmarks/kt_all.sh [DATA_ROOT] [DATASET ...]   (default ../shared/datasets; all four datasets)
#   OUT=dir    write there instead of docs/results     FOLDS=1,2   only these folds (a quick check)
# Hours on a 2-core CPU: per assist2009_pid fold about 3 min (attn), 5 (ensemble), 6 (ensemble-pairs).
set -euo pipefail
root=${1:-${METATUTOR_DATA:-../shared/datasets}}
shift || true
out=${OUT:-docs/results}
mkdir -p "$out"
folds=()
if [ -n "${FOLDS:-}" ]; then folds=(--folds "$FOLDS"); fi
run() {  # run NAME DATASET PROTOCOL TRACK MODELS
  metatutor benchmark kt --data "$root/$2" --protocol "$3" --track "$4" --models "$5" "${folds[@]}" \
    --json "$out/$1.json" --markdown "$out/$1.md"
}
datasets=("$@")
if [ ${#datasets[@]} -eq 0 ]; then datasets=(assist2009_pid statics pykt_assist2015 assist2015); fi
for ds in "${datasets[@]}"; do
  case $ds in pykt_assist2015) proto=pykt ;; *) proto=folds ;; esac
  run "kt_$ds" "$ds" "$proto" sequence irt,bkt,pfa,bestlr           # the baselines (table of §1)
  run "kt_${ds}_dkt" "$ds" "$proto" sequence dkt                    # DKT (table of §1)
  if [ "$ds" != assist2015 ]; then run "kt_attn_$ds" "$ds" "$proto" sequence attn; fi   # §3
  run "kt_ensemble_$ds" "$ds" "$proto" sequence ensemble            # §3: `default`, the sequence-only headline
  run "kt_ensemble_pairs_$ds" "$ds" "$proto" classmates ensemble-pairs   # §3: `default-classmates`
done
if [ "$out" = docs/results ]; then python benchmarks/render_tables.py; else python benchmarks/render_tables.py --results "$out"; fi
