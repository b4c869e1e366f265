"""The fairness audit as a report: Markdown (figures as PNG files beside it) or one self-contained HTML
page (figures inlined), both rendered from the audit's JSON (`FairnessAudit.to_json()`), so a report can be
re-rendered from a stored audit. Per split: the groups (size, base rate, AUC, ECE), the gaps with their
randomisation p-values against the goals, a figure (ROC curves and reliability curves by group), cold start
by group and the per-skill slices; then the simulated studies when they were run."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any


def _f(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _p(value: Any) -> str:
    return "–" if value is None else (f"{value:.3f}" if value >= 0.001 else "< 0.001")


def split_figure(split: dict[str, Any]) -> bytes:
    """PNG: the groups' ROC curves (left) and reliability curves (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (roc, rel) = plt.subplots(1, 2, figsize=(9, 4), dpi=110)
    for group, curve in split["roc"].items():
        roc.plot(curve["fpr"], curve["tpr"], label=group, lw=1.5)
    roc.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    roc.set(xlabel="false positive rate", ylabel="true positive rate",
            title=f"ROC by group (ABROCA {split['gaps']['abroca']:.4f}, p {_p(split['gaps']['abroca_p'])})")
    roc.legend(fontsize=8)
    for group, curve in split["reliability"].items():
        rel.plot(curve["predicted"], curve["observed"], marker="o", ms=3, label=group, lw=1.2)
    rel.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    rel.set(xlabel="predicted P(correct)", ylabel="observed share right", title="reliability by group",
            xlim=(0, 1), ylim=(0, 1))
    rel.legend(fontsize=8)
    for ax in (roc, rel):
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
    fig.suptitle(f"split: {split['name']}", fontsize=10)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()


def _lines(audit: dict[str, Any], figure: Any) -> list[str]:
    """The report as Markdown lines; `figure(split) -> str` gives each split's image reference."""
    c = audit["config"]
    lines = [f"# Fairness audit: {audit['model']} on {audit['data']}", "",
             f"{audit['learners']:,} learners, {audit['answers']:,} answers (learners the model was not fitted on). "
             f"Gaps are tested by shuffling group labels among learners ({c['permutations']} shuffles); "
             f"goals: ABROCA ≤ {c['abroca_goal']}, every group's ECE ≤ {c['ece_goal']} ({c['bins']} bins).", "",
             "| split | groups | ABROCA | p | AUC gap | p | worst group ECE | ECE gap p | ABROCA goal | ECE goal |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for s in audit["summary"]:
        lines.append(f"| {s['split']} | {s['groups']} | {_f(s['abroca'])} | {_p(s['abroca_p'])} | {_f(s['auc_gap'])} | "
                     f"{_p(s['auc_gap_p'])} | {_f(s['worst_ece'])} | {_p(s['ece_gap_p'])} | {_f(s['abroca_met'])} | "
                     f"{_f(s['ece_met'])} |")
    lines += ["", f"Goals not met: {', '.join(audit['unmet']) if audit['unmet'] else 'none'}.", ""]
    for split in audit["splits"]:
        lines += [f"## {split['name']}", "", "| group | learners | answers | base rate | mean prediction | AUC | ECE |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {g['group']} | {_f(g['learners'])} | {_f(g['answers'])} | {_f(g['base_rate'])} | "
                  f"{_f(g['mean_prediction'])} | {_f(g['auc'])} | {_f(g['ece'])} |" for g in split["groups"]]
        gaps = split["gaps"]
        lines += ["", f"ABROCA {_f(gaps['abroca'])} (p {_p(gaps['abroca_p'])}), AUC gap {_f(gaps['auc_gap'])} "
                  f"(p {_p(gaps['auc_gap_p'])}), ECE gap {_f(gaps['ece_gap'])} (p {_p(gaps['ece_gap_p'])}).", "",
                  figure(split), ""]
        if split["coldstart"]:
            names = [g["group"] for g in split["groups"]]
            lines += ["Cold start (AUC of the next answers from the first k alone):", "",
                      "| k | " + " | ".join(names) + " | gap | p |", "|---" * (len(names) + 3) + "|"]
            lines += [f"| {r['k']} | " + " | ".join(_f(r["auc"].get(n)) for n in names) +
                      f" | {_f(r.get('auc_gap'))} | {_p(r.get('auc_gap_p'))} |" for r in split["coldstart"]]
            lines.append("")
        if split["skills"]:
            names = [g["group"] for g in split["groups"]]
            lines += ["Per skill (the most answered; descriptive, no test):", "",
                      "| skill | " + " | ".join(names) + " | gap |", "|---" * (len(names) + 2) + "|"]
            lines += [f"| {r['skill']} | " + " | ".join(_f(r["auc"].get(n)) for n in names) +
                      f" | {_f(r['auc_gap'])} |" for r in split["skills"]]
            lines.append("")
    for study in audit.get("simulation", {}).values():
        lines += _study_lines(study)
    if audit.get("notes"):
        lines += ["Notes:", ""] + [f"- {n}" for n in audit["notes"]] + [""]
    return lines


def _study_lines(study: dict[str, Any]) -> list[str]:
    injected = ", ".join(f"{k} = {v}" for k, v in study["injected"].items())
    title = "Practice simulation" if study["study"] == "practice" else "Adaptive test simulation"
    lines = [f"## {title} (injected: {injected})", "", "| split | metric | group means | difference | p |",
             "|---|---|---|---|---|"]
    for split, result in study["by_split"].items():
        labels = result["groups"]
        for metric, r in result.items():
            if metric == "groups":
                continue
            means = ", ".join(f"{g} {m:.3f} (n {n})" for g, m, n in zip(labels, r["mean"], r["n"], strict=True))
            lines.append(f"| {split} | {metric} | {means} | {r['difference']:+.3f} | {_p(r['p'])} |")
    return [*lines, ""]


def write_markdown(audit: dict[str, Any], path: str | Path) -> Path:
    """The report as Markdown at `path`, its figures as PNGs in `<stem>_figures/` beside it."""
    out = Path(path)
    folder = out.with_name(f"{out.stem}_figures")
    folder.mkdir(parents=True, exist_ok=True)

    def figure(split: dict[str, Any]) -> str:
        name = f"{_slug(split['name'])}.png"
        (folder / name).write_bytes(split_figure(split))
        return f"![{split['name']}]({folder.name}/{name})"

    out.write_text("\n".join(_lines(audit, figure)) + "\n")
    return out


def render_html(audit: dict[str, Any]) -> str:
    """The report as one HTML page with its figures inlined (no scripts, no external resources)."""
    figures: dict[str, str] = {}

    def figure(split: dict[str, Any]) -> str:
        key = f"@@figure{len(figures)}@@"
        figures[key] = base64.b64encode(split_figure(split)).decode()
        return key

    body = []
    table: list[str] = []
    for line in _lines(audit, figure):
        if line.startswith("|"):
            if not set(line) <= set("|-"):
                cells = [html.escape(c.strip().replace("**", "")) for c in line.strip("|").split("|")]
                tag = "th" if not table else "td"
                table.append("<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>")
            continue
        if table:
            body.append("<table>" + "".join(table) + "</table>")
            table = []
        if line in figures:
            body.append(f'<img alt="figure" src="data:image/png;base64,{figures[line]}">')
        elif line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("- "):
            body.append(f"<p>• {html.escape(line[2:])}</p>")
        elif line:
            body.append(f"<p>{html.escape(line.replace('**', ''))}</p>")
    if table:
        body.append("<table>" + "".join(table) + "</table>")
    style = ("body{font-family:sans-serif;max-width:980px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;"
             "text-align:right}th{background:#f3f3f3}img{max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Fairness audit</title><style>{style}</style>"
            f"</head><body>{''.join(body)}</body></html>\n")


def write_report(audit: dict[str, Any], path: str | Path) -> Path:
    """Markdown for `.md`, HTML for `.html`/`.htm`."""
    out = Path(path)
    if out.suffix.lower() in (".html", ".htm"):
        out.write_text(render_html(audit))
        return out
    return write_markdown(audit, out)


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name).strip("_") or "split"
