"""Re-draw a cold-start curve from the JSON written by `metatutor benchmark coldstart --json`.

Usage: python benchmarks/plot_coldstart.py docs/results/coldstart_assist2009_pid.json docs/coldstart_assist2009_pid.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from metatutor.evaluation.coldstart import ColdStartResult

if __name__ == "__main__":
    ColdStartResult.from_json(json.loads(Path(sys.argv[1]).read_text())).plot(sys.argv[2])
