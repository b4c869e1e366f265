#!/usr/bin/env bash
# Regenerate the serving timings that docs/benchmarks.md §3 quotes (one learner at a time, fold 1 of
# assist2009_pid): the attention model, its member of the saved default, the ensemble and ensemble-pairs.
# Each model is trained and saved first, then timed from the saved copy (as the docs' figures were).
# Usage: benchmarks/serving_all.sh [DATA_ROOT] [MODEL_DIR]    OUT=dir  write there instead of docs/results
# (service_kt.py and service_load.py need a running service and a database: their commands are in §6-§7.)
set -euo pipefail
root=${1:-${METATUTOR_DATA:-../shared/datasets}}
models=${2:-$(mktemp -d)}
out=${OUT:-docs/results}
mkdir -p "$out"
data="$root/assist2009_pid"
python benchmarks/serving_latency.py --data "$data" --fold 1 --learners 50 --json "$out/serving_latency_assist2009_pid.json"
for name in ensemble ensemble-pairs; do
  python benchmarks/serving_latency.py --name "$name" --data "$data" --fold 1 --learners 50 --save "$models/$name"
  python benchmarks/serving_latency.py --model "$models/$name" --data "$data" --fold 1 --learners 50 \
    --json "$out/serving_latency_${name//-/_}_assist2009_pid.json"
done
# the attention member of the saved default-classmates model (member 0), timed by itself
python - "$models/ensemble-pairs" "$models/attn_member" <<'PY'
import sys
from metatutor.models import load_model
load_model(sys.argv[1]).members_[0].save(sys.argv[2])
PY
python benchmarks/serving_latency.py --model "$models/attn_member" --data "$data" --fold 1 --learners 50 \
  --json "$out/serving_latency_attn_member_assist2009_pid.json"
