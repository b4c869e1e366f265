"""Markdown tables rendered from the JSON that `metatutor benchmark ... --json` writes, and nothing else.

`render(data)` picks the table by `data["task"]` (kt, coldstart, cat, cat_simulation, practice). `--markdown`
writes `render(the JSON it wrote)`, and `benchmarks/render_tables.py --check` re-renders every committed
table under docs/results/ from its JSON, so a table can never say what its JSON does not.

A kt table may gather the models of several runs (`render_kt_runs`): each row then names the file it came
from, and every file keeps exactly what its run wrote (no hand-merged JSON).

Rows carry their track (`sequence`: a learner's own answers; `classmates`: also item-to-item effects counted
over other learners, see `metatutor.models.TRACK`). JSON written before tracks existed has no `track` field;
its track is then read from the name under the rules of that time (`legacy_track`) and marked with `*`.
"""

from __future__ import annotations

import math
from typing import Any

KT_LEGACY_CLASSMATES = ("pairs", "ensemble-pairs", "default-classmates")
# before tracks existed, `benchmark cat`'s `default` could choose item-to-item answer effects
CAT_LEGACY_CLASSMATES = ("default", "default-classmates")
COLDSTART_BASELINES = ("population", "scratch", "map", "finetune", "dkt", "irt", "tracker")


def legacy_track(task: str, name: str) -> str:
    """The track of a row written before rows carried one."""
    if task == "cat":
        return "classmates" if name in CAT_LEGACY_CLASSMATES else "sequence"
    if task == "kt":
        return "classmates" if name in KT_LEGACY_CLASSMATES else "sequence"
    return "sequence"  # no cold-start method has ever used other learners' item-to-item effects


def _track(task: str, summary: dict[str, Any], rows: list[dict[str, Any]], name: str, key: str) -> str:
    if "track" in summary.get(name, {}):
        return str(summary[name]["track"])
    for r in rows:
        if r.get(key) == name and "track" in r:
            return str(r["track"])
    return legacy_track(task, name) + "*"


def _num(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return format(value, fmt)


def provenance_line(data: dict[str, Any], source: str | None = None) -> str:
    """One line saying where a run came from (or that it does not say)."""
    where = f"`{source}`: " if source else ""
    prov = data.get("provenance")
    if not prov:
        return f"{where}provenance not recorded (written before results carried it)"
    code, mach, vers, ds = prov.get("code", {}), prov.get("machine", {}), prov.get("versions", {}), prov.get("data")
    commit = (code.get("commit") or "unknown")[:10] + (" (uncommitted changes)" if code.get("dirty") else "")
    gpu = ", ".join(mach.get("gpu") or []) or "no GPU"
    digest = (ds or {}).get("sha256")
    data_part = f"; data sha256 {digest[:12]}" if digest else ""
    return (f"{where}commit {commit}; python {vers.get('python')}, torch {vers.get('torch')}, numpy "
            f"{vers.get('numpy')}; {mach.get('cores')} cores ({mach.get('cpu_model')}), {gpu}, CPU probe "
            f"{mach.get('cpu_probe_s')} s{data_part}; written {prov.get('written')}")


def _inferred(lines: list[str]) -> list[bool]:
    """Per table row (after the two header lines): is its track cell one read from the name (`*`)?"""
    return [line.split("|")[2].strip().endswith("*") for line in lines[4:] if line.startswith("| ")]


def _audit_cell(rows: list[dict[str, Any]]) -> str:
    changes = [r["leak_max_change"] for r in rows if r.get("leak_max_change") is not None]
    return "not run" if not changes else f"{max(changes):.1g}"


# ----- kt ------------------------------------------------------------------------------------------------
def render_kt_runs(runs: list[tuple[str, dict[str, Any], list[str] | None]]) -> str:
    """One table of `benchmark kt` results from one or more runs: (file name, its JSON, the models to take
    from it or None for all)."""
    first = runs[0][1]
    rows_by_model: list[tuple[str, str, dict[str, Any], list[dict[str, Any]]]] = []
    for source, data, models in runs:
        for model, s in data["summary"].items():
            if models is None or model in models:
                rows_by_model.append((source, model, s, [r for r in data["rows"] if r["model"] == model]))
    folds = sorted({r["fold"] for _, _, _, rows in rows_by_model for r in rows})
    many = len(runs) > 1
    head = ("| model | track | AUC mean ± std | " + " | ".join(f"fold {f}" for f in folds)
            + " | ACC | RMSE | train s/fold | leak audit (largest change) |" + (" run |" if many else ""))
    lines = [f"**{first['dataset']}** ({first['protocol']} protocol)", "", head,
             "|---" * (len(folds) + 7 + many) + "|"]  # model, track, mean, folds, ACC, RMSE, time, audit, run
    for source, model, s, rows in rows_by_model:
        data = next(d for name, d, _ in runs if name == source)
        per = {r["fold"]: r["auc"] for r in rows}
        cells = " | ".join(_num(per.get(f), ".4f") for f in folds)
        track = _track("kt", data["summary"], data["rows"], model, "model")
        lines.append(f"| {model} | {track} | {s['auc']:.4f} ± {s['auc_std']:.4f} | {cells} | {s['acc']:.4f} | "
                     f"{s['rmse']:.4f} | {s['train_seconds']:.0f} | {_audit_cell(rows)} |"
                     + (f" `{source}` |" if many else ""))
    lines += ["", *(f"- {provenance_line(d, name if many else None)}" for name, d, _ in runs)]
    if any(_inferred(lines)):
        lines.append("- `*`: track read from the model's name (the run predates the `track` field)")
    return "\n".join(lines) + "\n"


# ----- coldstart -----------------------------------------------------------------------------------------
def render_coldstart(data: dict[str, Any]) -> str:
    summary, rows = data["summary"], data["rows"]
    ks = sorted({int(k) for s in summary.values() for k in s["auc_at_k"]})
    folds = max((s["folds"] for s in summary.values()), default=0)
    lines = [f"**{data['dataset']}** ({data['protocol']} protocol, {folds} folds)", "",
             "| method | track | " + " | ".join(f"k={k}" for k in ks) + " | AUC@10 | fit s/fold |",
             "|---" * (len(ks) + 4) + "|"]
    for model, s in summary.items():
        cells = " | ".join(_num(s["auc_at_k"].get(str(k)), ".4f") for k in ks)
        lines.append(f"| {model} | {_track('coldstart', summary, rows, model, 'model')} | {cells} | "
                     f"{_num(s.get('auc_at_10'), '.4f')} | {s.get('fit_seconds', 0):.0f} |")
    baselines = [b for b in COLDSTART_BASELINES if b in summary]
    for ours in (m for m in ("default", "default-classmates") if m in summary):
        if not baselines:
            break
        best = {k: _best(summary, baselines, str(k)) for k in ks}
        lines.append("| best baseline | | " + " | ".join(
            f"{summary[best[k]]['auc_at_k'][str(k)]:.4f} ({best[k]})" for k in ks) + " | | |")
        lines.append(f"| **{ours} − best baseline** | | " + " | ".join(
            f"**{summary[ours]['auc_at_k'][str(k)] - summary[best[k]]['auc_at_k'][str(k)]:+.4f}**" for k in ks)
            + " | | |")
    lines += ["", f"- {provenance_line(data)}"]
    audit = data.get("leak_audit")
    if not audit:
        lines.append("- leak audit: not run (the run predates it)")
    else:
        changes = audit.get("max_change") or {}
        largest = max(changes.values(), default=0.0) if isinstance(changes, dict) else float(changes)
        lines.append(f"- leak audit ({audit.get('learners')} test learners per fold and method; k-shot: the query's "
                     f"answers shown and flipped, online: answers flipped from a cut on): largest change "
                     f"{largest:.1g}, allowed {audit.get('tolerance', 0):g}")
    if any(_inferred(lines)):
        lines.append("- `*`: track read from the method's name (the run predates the `track` field)")
    return "\n".join(lines) + "\n"


def _best(summary: dict[str, Any], names: list[str], k: str) -> str:
    """The name with the highest AUC at k (the first such, in the table's order)."""
    return max(names, key=lambda b: float(summary[b]["auc_at_k"].get(k, -1.0)))


# ----- cat -----------------------------------------------------------------------------------------------
def render_cat(data: dict[str, Any]) -> str:
    summary, rows = data["summary"], data["rows"]
    ns = sorted({int(n) for s in summary.values() for n in s["auc_at_n"]})
    lines = [f"**cat: {data['dataset']}** ({data['protocol']} protocol, BOBCAT setting; AUC and accuracy in %)", "",
             "| selector | track | " + " | ".join(f"AUC n={n}" for n in ns) + " | "
             + " | ".join(f"acc n={n}" for n in ns) + " |", "|---" * (2 * len(ns) + 2) + "|"]
    for sel, s in summary.items():
        aucs = [_num(100 * s["auc_at_n"][str(n)], ".2f") if str(n) in s["auc_at_n"] else "" for n in ns]
        accs = [_num(100 * s["acc_at_n"][str(n)], ".2f") if str(n) in s["acc_at_n"] else "" for n in ns]
        lines.append(f"| {sel} | {_track('cat', summary, rows, sel, 'selector')} | " + " | ".join(aucs + accs) + " |")
    lines += ["", f"- {provenance_line(data)}"]
    for key, label in (("default_model", "default"), ("default_classmates_model", "default-classmates")):
        chosen = data.get(key) or {}
        if chosen:
            lines.append(f"- learner model of `{label}` per fold (chosen on the fold's validation learners): "
                         + ", ".join(f"{f}: {c['chosen']}" for f, c in chosen.items()))
    if any(_inferred(lines)):
        lines.append("- `*`: track read from the selector's name (the run predates the `track` field; its "
                     "`default` could choose item-to-item answer effects)")
    return "\n".join(lines) + "\n"


# ----- cat simulation ------------------------------------------------------------------------------------
def render_cat_simulation(data: dict[str, Any]) -> str:
    def at(condition: str, length: int, key: str) -> float:
        vals = [r[key] for r in data["rows"] if r["condition"] == condition and r["length"] == length]
        return float(vals[0]) if vals else float("nan")

    lines = [f"### cat simulation: Rasch bank of {data['n_items']} items, {data['n_examinees']} examinees θ ~ N(0, 1)",
             "", "| condition | RMSE@5 | RMSE@10 | RMSE@20 | RMSE@50 | bias@10 | SE@10 | max exposure (10 items) |",
             "|---|---|---|---|---|---|---|---|"]
    for c, e in data["exposure"].items():
        cells = [f"{at(c, n, 'rmse'):.3f}" for n in (5, 10, 20, data["length"])]
        lines.append(f"| {c} | " + " | ".join(cells) + f" | {at(c, 10, 'bias'):+.3f} | "
                     f"{at(c, 10, 'se'):.3f} | {e['max_exposure_at_10']:.3f} |")
    lines += ["", f"- {provenance_line(data)}"]
    return "\n".join(lines) + "\n"


# ----- practice ------------------------------------------------------------------------------------------
def render_practice(data: dict[str, Any]) -> str:
    c = data["config"]

    def fmt(e: dict[str, Any], key: str, digits: int) -> str:
        return "–" if e[key] is None else f"{e[key]:.{digits}f} ± {e[f'{key}_ci95']:.{digits}f}"

    lines = [f"### practice: {c['n_learners']} simulated learners per policy, post-test after {c['budget']} answers, "
             f"retention {c['delay_days']:g} days later (mean ± 95% CI)", "",
             "| simulator | policy | items to mastery | reached | post-test | retention |", "|---|---|---|---|---|---|"]
    for pol, s in data["summary"].items():
        for sim, e in s["by_simulator"].items():
            reached = "" if e["reached_mastery"] is None else f"{100 * e['reached_mastery']:.0f}%"
            lines.append(f"| {sim} | {pol} | {fmt(e, 'items_to_mastery', 1)} | {reached} | "
                         f"{fmt(e, 'posttest', 3)} | {fmt(e, 'retention', 3)} |")
    lines += ["", f"- {provenance_line(data)}"]
    return "\n".join(lines) + "\n"


def render(data: dict[str, Any]) -> str:
    """The Markdown table of one benchmark JSON."""
    task = data.get("task")
    if task == "kt":
        return render_kt_runs([("", data, None)])
    renderers = {"coldstart": render_coldstart, "cat": render_cat, "cat_simulation": render_cat_simulation,
                 "practice": render_practice}
    if task not in renderers:
        raise ValueError(f"no table for a result of task {task!r}")
    return renderers[task](data)
