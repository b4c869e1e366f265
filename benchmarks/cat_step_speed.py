"""Time of one CAT step on a large bank: record an answer, update the EAP estimate, choose the next item.

A 2PL bank of --items items (a ~ logN(0, 0.3), b ~ N(0, 1)); simulated examinees take tests of --length
items through `CATSession` (the serving path: JSON-resumable state, exclusion of asked items).

Usage: python benchmarks/cat_step_speed.py --items 20000 --json docs/results/cat_step_speed.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from metatutor.assessment.bank import ItemBank
from metatutor.assessment.irt import p_correct
from metatutor.assessment.selection import SelectorConfig
from metatutor.assessment.session import CATSession
from metatutor.assessment.stopping import StoppingRule


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--examinees", type=int, default=50)
    parser.add_argument("--length", type=int, default=30)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    bank = ItemBank.from_parameters(np.exp(rng.normal(0, 0.3, args.items)), rng.normal(size=args.items))
    out: dict[str, object] = {"items": args.items, "examinees": args.examinees, "length": args.length}
    for criterion in ("mfi", "kl"):
        times = []
        for e in range(args.examinees):
            theta = rng.normal()
            session = CATSession(bank, selector=SelectorConfig(criterion=criterion),
                                 stopping=StoppingRule(max_items=args.length), seed=e)
            item = session.next_item()
            while item is not None:
                code = bank.codes([item])[0]
                y = int(rng.random() < p_correct(theta, bank.a[code], bank.b[code], bank.c[code]))
                t0 = time.perf_counter()
                session.answer(item, y)  # estimate update
                item = session.next_item()  # selection among the remaining items
                times.append(time.perf_counter() - t0)
        ms = np.array(times) * 1000
        out[f"{criterion}_step_ms_median"] = float(np.median(ms))
        out[f"{criterion}_step_ms_p99"] = float(np.percentile(ms, 99))
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
