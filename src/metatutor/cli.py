"""The `metatutor` command line: a thin layer over the library; the only place that prints."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from metatutor.errors import ConfigError, MetatutorError

app = typer.Typer(help="metatutor: an adaptive learning engine that meta-learns how each learner learns.",
                  no_args_is_help=True, add_completion=False, rich_markup_mode="markdown")
data_app = typer.Typer(help="Inspect learner-response data.", no_args_is_help=True)
bench_app = typer.Typer(help="Reproducible benchmarks (results as a table, Markdown and JSON).", no_args_is_help=True)
keys_app = typer.Typer(help="The service's API keys: create, list, revoke (on METATUTOR_DATABASE_URL).",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(bench_app, name="benchmark")
app.add_typer(keys_app, name="keys")
console = Console()
err = Console(stderr=True)


def _plain_help() -> None:
    """Recent typer prints `<bool>` beside every flag (even --help) and a required argument as `{data}`:
    show flags bare and arguments as DATA (optional ones as [DATA]), as command-line help usually reads."""
    from typer import core

    option_type = getattr(core.TyperOption, "display_type_rich", None)
    if option_type is not None:
        def display_type_rich(self: Any, ctx: Any) -> str | None:
            return None if getattr(self, "is_flag", False) and self.metavar is None else option_type(self, ctx)

        setattr(core.TyperOption, "display_type_rich", display_type_rich)  # noqa: B010
    if hasattr(core.TyperArgument, "_usage_display_name"):
        def usage_name(self: Any) -> str:
            name = str(self.metavar or self.name).upper()
            return (name if self.required else f"[{name}]") + ("..." if self.nargs != 1 else "")

        setattr(core.TyperArgument, "_usage_display_name", usage_name)  # noqa: B010


_plain_help()
F = TypeVar("F", bound=Callable[..., Any])

# options that several benchmarks share
FoldsOption = Annotated[str | None, typer.Option(help="Comma-separated folds (all when omitted).")]
KOption = Annotated[int, typer.Option(help="Number of folds for the kfold protocol.")]
FormatOption = Annotated[str | None, typer.Option(help="Input format (detected when omitted).")]
DelimiterOption = Annotated[str | None, typer.Option(help="Field delimiter of delimited text: , ; tab | "
                                                     "(sniffed when omitted).")]
JsonOption = Annotated[Path | None, typer.Option("--json", help="Write results as JSON here.")]
MarkdownOption = Annotated[Path | None, typer.Option(help="Write a Markdown table here.")]


def friendly(func: F) -> F:
    """Turn metatutor's named errors into exit code 2 and one paragraph, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MetatutorError as exc:
            err.print(f"[bold red]error:[/] {type(exc).__name__}: {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None
        except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


def _parse_columns(text: str | None) -> dict[str, str] | None:
    if not text:
        return None
    out = {}
    for part in text.split(","):
        if "=" not in part:
            raise ConfigError(f"--columns takes field=column pairs separated by commas, not {part!r}")
        key, value = part.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def _ints(text: str | None) -> list[int] | None:
    if not text:
        return None
    from metatutor.errors import ConfigError

    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--folds takes numbers separated by commas, not {text!r}") from None


def _print_version(value: bool) -> None:
    if value:
        from metatutor import __version__

        console.print(f"metatutor {__version__}")
        raise typer.Exit()


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
         version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                               help="Print the version and exit.")] = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@data_app.command("check")
@friendly
def data_check(
    path: Annotated[Path, typer.Argument(help="A response file or a dataset folder.")],
    format: Annotated[str | None, typer.Option(help="long, lines3, lines4 or pykt (detected when omitted).")] = None,
    columns: Annotated[str | None, typer.Option(help="Column mapping, e.g. learner=stu,item=q,correct=ok.")] = None,
    encoding: Annotated[str | None, typer.Option(help="Text encoding (UTF-8 when omitted).")] = None,
    delimiter: DelimiterOption = None,
    stream: Annotated[bool | None, typer.Option("--stream/--no-stream", help="Read in chunks with bounded memory "
                                                "(default: for long-format files over 256 MiB).")] = None,
    cache: Annotated[Path | None, typer.Option(help="With --stream: keep the on-disk cache here (reused next "
                                               "time for the same file).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Read PATH and print what it holds: learners, items, skills, responses, multi-skill items,
    duplicates and the distribution of sequence lengths."""
    from metatutor.data.cache import ResponseCache, describe_log, is_cache
    from metatutor.data.delimited import parse_delimiter
    from metatutor.data.folders import DatasetFolder
    from metatutor.data.readers import read_responses
    from metatutor.data.stream import LARGE, streamable
    from metatutor.data.summary import describe, describe_batches

    cols = _parse_columns(columns)
    sep = parse_delimiter(delimiter)
    reports: dict[str, dict[str, Any]] = {}
    if path.is_dir() and is_cache(path):
        reports[path.name] = describe_batches(ResponseCache(path).learner_batches())
    elif path.is_dir():
        folder = DatasetFolder(path)
        for stem, group in folder.groups.items():
            responses = folder.all_responses(stem=stem, format=format, columns=cols, delimiter=sep)
            info = describe(responses)
            info["folds"] = group.folds if group.folds else ("pyKT train_valid + test" if group.is_pykt else [])
            reports[stem or path.name] = info
    elif stream or (stream is None and format in (None, "long") and path.is_file() and path.stat().st_size > LARGE
                    and streamable(path)):
        with err.status(f"reading {path} in chunks…"):
            reports[path.name] = describe_log(path, cache=cache, columns=cols, delimiter=sep, encoding=encoding)
    else:
        reports[path.name] = describe(read_responses(path, format=format, columns=cols, encoding=encoding,
                                                     delimiter=sep))
    if as_json:
        console.print_json(json.dumps(reports))
        return
    for name, info in reports.items():
        table = Table(title=f"{path.name if path.is_dir() else ''} {name}".strip(), show_header=False)
        table.add_column("what", style="bold")
        table.add_column("value", justify="right")
        for key, value in info.items():
            if key == "length":
                value = ", ".join(f"{k} {v:g}" for k, v in value.items())
                key = "sequence length"
            elif isinstance(value, float):
                value = f"{value:.4f}"
            table.add_row(key.replace("_", " "), str(value))
        console.print(table)


@contextlib.contextmanager
def _progress(title: str, total: int) -> Iterator[Callable[[str], None]]:
    """A progress bar on stderr; yields `step(message)`, called once per finished unit of work."""
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=False) as bar:
        task = bar.add_task(title, total=total)
        yield lambda message: bar.update(task, advance=1, description=message)


TrackOption = Annotated[str, typer.Option(help="sequence (a learner's own answers only), classmates (also item-to-item "
                                               "effects counted over other learners) or all.")]


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [m.strip() for m in text.split(",") if m.strip()]


def _check_outputs(json_path: Path | None, markdown: Path | None, plot: Path | None = None) -> None:
    """A benchmark's outputs, checked before it runs (`_check_output`)."""
    _check_output(json_path, "--json")
    _check_output(markdown, "--markdown")
    _check_output(plot, "--plot")


def _write_outputs(result: Any, json_path: Path | None, markdown: Path | None, plot: Path | None = None, *,
                   config: dict[str, Any] | None = None, data: Path | None = None) -> None:
    """Write a benchmark result as JSON (with its provenance: commit, configuration, versions, dataset hash,
    machine), the Markdown table rendered from that JSON, and a plot, where asked."""
    from metatutor.evaluation.benchmark import json_default
    from metatutor.evaluation.provenance import collect
    from metatutor.evaluation.tables import render

    if json_path or markdown:
        payload = json.loads(json.dumps(result.to_json(), default=json_default))
        payload["provenance"] = collect({k: (str(v) if isinstance(v, Path) else v) for k, v in (config or {}).items()},
                                        data)
        if json_path:
            json_path.write_text(json.dumps(payload, indent=2))
        if markdown:
            markdown.write_text(render(payload))
    if plot:
        result.plot(plot)


@bench_app.command("kt")
@friendly
def benchmark_kt(
    data: Annotated[Path, typer.Option(help="A dataset folder or file.")],
    protocol: Annotated[str, typer.Option(help="folds, pykt, kfold or auto.")] = "auto",
    models: Annotated[str | None, typer.Option(help="Comma-separated, from: irt, irt2pl, bkt, bktf, pfa, bestlr, dkt, "
                                             "attn, ensemble (attn + dkt + irt), default (= ensemble), and on the "
                                             "classmates track pairs, ensemble-pairs, default-classmates (= "
                                             "ensemble-pairs). When omitted: irt, bkt, pfa, bestlr, dkt "
                                             "(sequence) and/or pairs, default-classmates (classmates), by "
                                             "--track.")] = None,
    track: TrackOption = "all",
    folds: FoldsOption = None,
    seed: Annotated[int, typer.Option(help="Seed of models and of kfold splits.")] = 0,
    k: KOption = 5,
    format: FormatOption = None,
    json_path: JsonOption = None,
    markdown: MarkdownOption = None,
) -> None:
    """Next-response prediction on learners never seen in training (question level); every model passes a
    leak audit on each fold's test learners."""
    _check_outputs(json_path, markdown)
    from metatutor.evaluation.benchmark import KT_MODELS, run_kt_benchmark, select_by_track
    from metatutor.evaluation.protocols import available_folds, resolve_protocol
    from metatutor.models import model_track

    names = select_by_track(_names(models), track, track_of=model_track, defaults=KT_MODELS)
    fold_list = _ints(folds)
    proto = resolve_protocol(data, protocol)
    n_steps = len(names) * len(fold_list or available_folds(data, proto, k=k))
    with _progress(f"benchmark kt on {data.name}", n_steps) as step:
        result = run_kt_benchmark(data, protocol=proto, models=names, folds=fold_list, seed=seed, k=k,
                                  format=format, track=track, progress=step)
    table = Table(title=f"benchmark kt: {result.dataset} ({result.protocol})")
    for col in ("model", "track", "AUC", "± std", "ACC", "RMSE", "folds", "train s/fold"):
        table.add_column(col, justify="right" if col not in ("model", "track") else "left")
    for model, s in result.summary().items():
        table.add_row(model, s.get("track", ""), f"{s['auc']:.4f}", f"{s['auc_std']:.4f}", f"{s['acc']:.4f}",
                      f"{s['rmse']:.4f}", str(int(s["folds"])), f"{s['train_seconds']:.0f}")
    console.print(table)
    _write_outputs(result, json_path, markdown, config={"command": "benchmark kt", "data": data, "protocol": proto,
                                                        "models": names, "track": track, "folds": fold_list,
                                                        "seed": seed, "k": k, "format": format}, data=data)


@bench_app.command("coldstart")
@friendly
def benchmark_coldstart(
    data: Annotated[Path, typer.Option(help="A dataset folder or file.")],
    protocol: Annotated[str, typer.Option(help="folds, pykt, kfold or auto.")] = "auto",
    models: Annotated[str | None, typer.Option(help="Comma-separated, from: population, scratch, map, finetune, dkt, "
                                               "irt, maml, fomaml, reptile, metasgd, proto, amortized, default (all "
                                               "on the sequence track; when omitted, all but default).")] = None,
    track: TrackOption = "all",
    folds: FoldsOption = None,
    seed: Annotated[int, typer.Option(help="Seed of models, episodes and kfold splits.")] = 0,
    k: KOption = 5,
    format: FormatOption = None,
    meta_steps: Annotated[int | None, typer.Option(help="Outer steps of every meta-learner (default: theirs).")]
    = None,
    json_path: JsonOption = None,
    markdown: MarkdownOption = None,
    plot: Annotated[Path | None, typer.Option(help="Write the cold-start curve (PNG) here.")] = None,
) -> None:
    """New learners: observe their first k answers, adapt, predict the next 10 without seeing them; every
    method passes a leak audit on each fold's test learners."""
    _check_outputs(json_path, markdown, plot)
    from metatutor.evaluation.benchmark import select_by_track
    from metatutor.evaluation.coldstart import method_track, run_coldstart_benchmark
    from metatutor.evaluation.protocols import available_folds, resolve_protocol
    from metatutor.meta import BASELINES, OURS

    names = select_by_track(_names(models), track, track_of=method_track, what="method",
                            defaults={"sequence": [*BASELINES, *OURS], "classmates": []})
    fold_list = _ints(folds)
    proto = resolve_protocol(data, protocol)
    settings: dict[str, dict[str, object]] = {}
    if meta_steps is not None:
        settings = {name: {"meta_steps": meta_steps} for name in (*OURS, "default")}
    n_steps = len(names) * len(fold_list or available_folds(data, proto, k=k))
    with _progress(f"benchmark coldstart on {data.name}", n_steps) as step:
        result = run_coldstart_benchmark(data, protocol=proto, models=names, folds=fold_list, seed=seed, k=k,
                                         format=format, settings=settings, track=track, progress=step)
    summary = result.summary()
    ks = sorted({int(kk) for s in summary.values() for kk in s["auc_at_k"]})
    table = Table(title=f"benchmark coldstart: {result.dataset} ({result.protocol}), AUC on the next 10")
    table.add_column("method")
    for kk in ks:
        table.add_column(f"k={kk}", justify="right")
    table.add_column("AUC@10", justify="right")
    table.add_column("adapt ms", justify="right")
    for model, s in summary.items():
        at10 = "" if s["auc_at_10"] is None else f"{s['auc_at_10']:.4f}"
        ms = f"{s['adapt_ms_median']:.1f}" if "adapt_ms_median" in s else ""
        table.add_row(model, *[f"{s['auc_at_k'][str(kk)]:.4f}" for kk in ks], at10, ms)
    console.print(table)
    _write_outputs(result, json_path, markdown, plot, data=data,
                   config={"command": "benchmark coldstart", "data": data, "protocol": proto, "models": names,
                           "track": track, "folds": fold_list, "seed": seed, "k": k, "format": format,
                           "meta_steps": meta_steps, "settings": settings})


@bench_app.command("cat")
@friendly
def benchmark_cat(
    data: Annotated[Path | None, typer.Option(help="A dataset folder or file (BOBCAT protocol).")] = None,
    protocol: Annotated[str, typer.Option(help="folds (the AKT test files as parts) or kfold.")] = "folds",
    selectors: Annotated[str | None, typer.Option(help="Comma-separated, from: random, mfi, kl, meta, default (sequence) and "
                                                  "default-classmates (may use item-to-item effects); when "
                                                  "omitted, those of --track.")] = None,
    track: TrackOption = "all",
    folds: FoldsOption = None,
    seed: Annotated[int, typer.Option(help="Seed of models and of kfold splits.")] = 0,
    k: KOption = 5,
    format: FormatOption = None,
    simulation: Annotated[bool, typer.Option(help="Run the simulation study instead (no data needed).")] = False,
    examinees: Annotated[int, typer.Option(help="Simulated examinees.")] = 1000,
    json_path: JsonOption = None,
    markdown: MarkdownOption = None,
    plot: Annotated[Path | None, typer.Option(help="Simulation: write the RMSE-by-length plot (PNG) here.")] = None,
) -> None:
    """Adaptive testing: select n questions per learner, predict their held-out answers (BOBCAT protocol);
    or, with --simulation, ability recovery and exposure on a simulated Rasch bank."""
    _check_outputs(json_path, markdown, plot)
    if simulation:
        from metatutor.evaluation.cat_simulation import CONDITIONS, run_cat_simulation

        with _progress("CAT simulation", len(CONDITIONS)) as step:
            study = run_cat_simulation(n_examinees=examinees, seed=seed, progress=step)
        console.print(study.to_markdown())
        _write_outputs(study, json_path, markdown, plot, config={"command": "benchmark cat --simulation",
                                                                 "examinees": examinees, "seed": seed})
        return
    if data is None:
        from metatutor.errors import ConfigError

        raise ConfigError("give --data PATH (or --simulation)")
    from metatutor.evaluation.benchmark import select_by_track
    from metatutor.evaluation.cat import CAT_SELECTORS, NS, run_cat_benchmark, selector_track

    names = select_by_track(_names(selectors), track, track_of=selector_track, defaults=CAT_SELECTORS,
                            what="selector")
    fold_list = _ints(folds)
    n_steps = len(names) * len(fold_list or range(k))
    with _progress(f"benchmark cat on {data.name}", n_steps) as step:
        result = run_cat_benchmark(data, protocol=protocol, selectors=names, folds=fold_list, seed=seed, k=k,
                                   format=format, track=track, progress=step)
    table = Table(title=f"benchmark cat: {result.dataset} ({result.protocol}), held-out AUC / accuracy (%)")
    table.add_column("selector")
    for n in NS:
        table.add_column(f"n={n}", justify="right")
    for sel, s in result.summary().items():
        table.add_row(sel, *[f"{100 * s['auc_at_n'][str(n)]:.2f} / {100 * s['acc_at_n'][str(n)]:.2f}" for n in NS])
    console.print(table)
    _write_outputs(result, json_path, markdown, data=data,
                   config={"command": "benchmark cat", "data": data, "protocol": protocol, "selectors": names,
                           "track": track, "folds": fold_list, "seed": seed, "k": k, "format": format})


@bench_app.command("practice")
@friendly
def benchmark_practice(
    learners: Annotated[int, typer.Option(help="Simulated learners per policy.")] = 500,
    budget: Annotated[int, typer.Option(help="Answers before the post-test.")] = 60,
    max_items: Annotated[int, typer.Option(help="Answers at most while waiting for true mastery.")] = 300,
    policies: Annotated[str, typer.Option(help="Comma-separated, from: random, curriculum, mastery, target, gain, "
                                          "thompson, review, default (when omitted: all of them).",
                                          show_default=False)] =
    "random,curriculum,mastery,target,gain,thompson,review,default",
    seed: Annotated[int, typer.Option(help="Seed of the course, the learners and the policies.")] = 0,
    data: Annotated[Path | None, typer.Option(help="Also run a simulator fitted to this dataset (DKT trained on it).")] = None,
    learner_model: Annotated[str, typer.Option(help="What the policies plan with on the builtin simulator: tracker "
                                                    "(the skill tracker) or meta (the meta-learned learner model).")]
    = "tracker",
    json_path: JsonOption = None,
    markdown: MarkdownOption = None,
    plot: Annotated[Path | None, typer.Option(help="Write the learning curves (PNG) here.")] = None,
) -> None:
    """Practice policies on simulated learners: items to true mastery of the goals, post-test after a
    fixed budget, retention after a delay, learning curves."""
    _check_outputs(json_path, markdown, plot)
    from dataclasses import asdict

    from metatutor.evaluation.practice import PracticeConfig, run_practice_benchmark

    names = [p.strip() for p in policies.split(",") if p.strip()]
    config = PracticeConfig(n_learners=learners, budget=budget, max_items=max_items, seed=seed)
    with _progress("benchmark practice", len(names) * (2 if data else 1)) as step:
        result = run_practice_benchmark(config, names, data=data, progress=step, learner_model=learner_model)
    table = Table(title="benchmark practice (mean ± 95% CI)")
    for col in ("simulator", "policy", "items to mastery", "post-test", "retention"):
        table.add_column(col, justify="left" if col in ("simulator", "policy") else "right")
    for pol, s in result.summary().items():
        for sim, e in s["by_simulator"].items():
            cells = [("–" if e[k] is None else f"{e[k]:.3f} ± {e[k + '_ci95']:.3f}") for k in
                     ("items_to_mastery", "posttest", "retention")]
            table.add_row(sim, pol, *cells)
    console.print(table)
    _write_outputs(result, json_path, markdown, plot, data=data,
                   config={"command": "benchmark practice", "data": data, "policies": names, "learner_model": learner_model,
                           **asdict(config)})


# `train --preset`: `fast` caps the epochs of the neural models and stops them sooner (measured in
# docs/methods.md, "Training time"); `--max-epochs` still overrides its cap
PRESETS: dict[str, dict[str, int]] = {"default": {}, "fast": {"max_epochs": 10, "patience": 2}}


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}" if minutes >= 60 else f"{minutes}:{secs:02d}"


def _epoch_plan(model: str, settings: dict[str, Any]) -> list[tuple[str, int]]:
    """The neural models a fit will train in turn, each as (its name in epoch reports, most epochs)."""
    from metatutor.learner.registry import LEARNER_MODELS
    from metatutor.models import make_model

    if model in LEARNER_MODELS:  # the meta-learned model trains its population DKT first (the tracker: none)
        names = [] if model == "tracker" else ["dkt"]
    else:
        config = make_model(model, **settings).config
        names = list(getattr(config, "members", ())) or [model]
    plan = []
    for name in names:
        config = make_model(name, **settings).config
        if hasattr(config, "max_epochs"):
            plan.append((str(getattr(make_model(name), "label", name)), int(config.max_epochs)))
    return plan


@contextlib.contextmanager
def _epoch_status(title: str, plan: list[tuple[str, int]] | None = None) -> Iterator[None]:
    """A status line that follows the models' epochs as they finish, and one printed line per epoch with
    its validation AUC. With `plan` (the models to train in turn and their most epochs, `_epoch_plan`) it
    counts epochs against the most and says at most how long is left (early stopping usually ends sooner;
    models still to come are assumed as fast per epoch as the current one)."""
    from metatutor.models.epochs import follow_epochs

    limits = dict(plan or [])
    order = [name for name, _ in plan or []]
    best: dict[str, float] = {}
    last_seconds: dict[str, float] = {}

    def show(name: str, epoch: int, info: dict[str, float]) -> None:
        seconds = float(info.get("seconds", 0.0))
        took = seconds - last_seconds.get(name, 0.0) if epoch > 1 else seconds
        last_seconds[name] = seconds
        auc_text = ""
        if "valid_auc" in info:
            auc = float(info["valid_auc"])
            better = name in best and auc > best[name]  # the first AUC shown is nobody's improvement
            best[name] = max(auc, best.get(name, -1.0))
            auc_text = f", valid AUC {auc:.4f}" + (" (best)" if better else "")
        if name not in limits:  # no plan: the epoch and its AUC, as they come
            status.update(f"fitting {name}: epoch {epoch}{auc_text} ({seconds:.0f} s)")
            return
        per_epoch = seconds / max(epoch, 1)
        later = order[order.index(name) + 1:]
        left = per_epoch * (max(limits[name] - epoch, 0) + sum(limits[n] for n in later))
        err.print(f"  {name} epoch {epoch}/{limits[name]}{auc_text}, {took:.1f} s", highlight=False)
        member = f" (model {order.index(name) + 1} of {len(order)})" if len(order) > 1 else ""
        status.update(f"fitting {name}{member}: epoch {epoch} of at most {limits[name]}, "
                      f"{_clock(seconds)} elapsed, at most {_clock(left)} left (early stopping usually ends sooner)")

    with err.status(title) as status, follow_epochs(show):
        yield


def _check_output(path: Path | None, option: str, *, folder: bool = False,
                  suffixes: tuple[str, ...] | None = None) -> None:
    """Before any work: refuse an output that could not be written (a file where a folder goes or the
    other way round, a suffix that cannot be written, a parent that is a file), and make a missing parent
    folder, so that nothing fails after the work is done."""
    if path is None:
        return
    if folder and path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path} is a file: name a folder (a new one, or one an earlier run wrote)")
    if not folder and path.is_dir():
        raise ConfigError(f"{option} {path} is a folder: name a file")
    if suffixes and path.suffix.lower() not in suffixes:
        raise ConfigError(f"{option}: write {path.name} as {', '.join(suffixes[:-1])} or {suffixes[-1]}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{option} {path}: {parent} is a file, not a folder")
            break
    path.parent.mkdir(parents=True, exist_ok=True)


TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet")


def _write_table(frame: Any, path: Path) -> None:
    """CSV, TSV or Parquet by the file's suffix."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame.to_parquet(path)
    elif suffix in (".csv", ".tsv", ".txt"):
        frame.to_csv(path, sep="\t" if suffix == ".tsv" else ",")
    else:
        raise ConfigError(f"write {path.name} as .csv, .tsv or .parquet")  # _check_output says so first


def _streamed(data: Path, *, stream: bool | None, format: str | None, parallel: bool) -> bool:
    """Whether `train` reads DATA through its cache (see --stream)."""
    from metatutor.data.cache import is_cache
    from metatutor.data.stream import LARGE, streamable

    if stream is False and parallel:
        raise ConfigError("--nproc/--nnodes above 1 train from the cache: drop --no-stream")
    if stream is None:
        stream = parallel or is_cache(data) or (format in (None, "long") and data.is_file()
                                                and data.stat().st_size > LARGE and streamable(data))
    if stream and format not in (None, "long"):
        raise ConfigError(f"--stream reads long-format logs, not {format!r}")
    return bool(stream)


def _train_streamed(data: Path, out: Path, *, model: str, valid: float, seed: int, preset: str, max_epochs: int | None,
                    columns: str | None, delimiter: str | None, cache: Path | None, checkpoints: Path | None,
                    launch: dict[str, Any]) -> None:
    """`train` through DATA's cache: in this process (or this torchrun rank), or in --nproc processes."""
    import os
    import subprocess

    from metatutor.data.delimited import parse_delimiter
    from metatutor.learner.registry import LEARNER_MODELS
    from metatutor.models.replicas import Replicas
    from metatutor.models.scale_train import default_cache, launch_command, open_cache, train_cached

    if model in LEARNER_MODELS:
        raise ConfigError(f"--model {model} (a learner model) trains in memory only (--no-stream); at scale choose a "
                          "knowledge-tracing model: ensemble (attn + dkt + irt), attn, dkt or irt")
    cache = cache or default_cache(data)
    checkpoints = checkpoints or out / "checkpoints"
    cols, sep = _parse_columns(columns), parse_delimiter(delimiter)
    if (launch["nproc"] > 1 or launch["nnodes"] > 1) and "TORCHELASTIC_RUN_ID" not in os.environ:
        with err.status(f"caching {data} in {cache}…"):
            open_cache(data, cache, Replicas.single(), columns=cols, **({"delimiter": sep} if sep else {})).close()
        args = ["train", str(data), "--out", str(out), "--model", model, "--valid", str(valid), "--seed", str(seed),
                "--preset", preset, "--stream", "--cache", str(cache), "--checkpoints", str(checkpoints),
                *(["--max-epochs", str(max_epochs)] if max_epochs is not None else []),
                *(["--columns", columns] if columns else []), *(["--delimiter", delimiter] if delimiter else [])]
        code = subprocess.run(launch_command(args, **launch), check=False).returncode
        if code:
            raise typer.Exit(code=code)
        return
    settings: dict[str, Any] = {**PRESETS[preset], **({"max_epochs": max_epochs} if max_epochs is not None else {})}
    main_rank = os.environ.get("RANK", "0") == "0"
    status = _epoch_status(f"fitting {model} from {cache}…", _epoch_plan(model, settings)) if main_rank \
        else contextlib.nullcontext()
    with status:
        result = train_cached(data, out, model=model, cache=cache, valid=valid, seed=seed, settings=settings,
                              checkpoints=checkpoints, columns=cols, delimiter=sep)
    if not result.main:
        return
    table = Table(title=f"{model} fitted on {data.name} ({result.processes} process"
                        f"{'es' if result.processes > 1 else ''})", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    table.add_row("training learners / responses", f"{result.train_learners} / {result.train_responses}")
    table.add_row("validation learners", str(result.valid_learners))
    if result.valid_auc is not None:
        table.add_row("validation AUC", f"{result.valid_auc:.4f} (these learners early-stopped it: optimistic)")
    table.add_row("fit time", f"{result.seconds:.1f} s")
    table.add_row("saved to", str(out))
    console.print(table)


@app.command()
@friendly
def train(
    data: Annotated[Path, typer.Argument(help="Response logs: a file or a dataset folder (every learner in it).")],
    out: Annotated[Path, typer.Option(help="Folder to save the fitted model in.")],
    model: Annotated[str, typer.Option(help="default (= meta, the meta-learned learner model that every decision reads), "
                                            "tracker (the skill tracker), or a knowledge-tracing model: ensemble, "
                                            "default-classmates (= ensemble-pairs), attn, dkt, pairs, irt, bkt, pfa, bestlr, "
                                            "...")] = "default",
    valid: Annotated[float, typer.Option(help="Fraction of learners held out to early-stop and score it.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the split and the model.")] = 0,
    max_epochs: Annotated[int | None, typer.Option(help="Most epochs (neural models; default: theirs).")] = None,
    preset: Annotated[str, typer.Option(help="default, or fast: at most 10 epochs per neural model, stopping "
                                             "after 2 without a better validation AUC (about half the default's "
                                             "time; docs/methods.md, Training time).")] = "default",
    meta_steps: Annotated[int | None, typer.Option(help="Meta-training steps of the meta-learned learner model "
                                                        "(default: its own).")] = None,
    format: FormatOption = None,
    columns: Annotated[str | None, typer.Option(help="Column mapping, e.g. learner=stu,item=q,correct=ok.")] = None,
    delimiter: DelimiterOption = None,
    nproc: Annotated[int, typer.Option(help="Training processes on this machine, data-parallel through torchrun "
                                            "(gloo on CPU, NCCL on GPU); implies --stream.")] = 1,
    nnodes: Annotated[int, typer.Option(help="Machines training together: run the same command on each, with "
                                             "--rdzv-endpoint.")] = 1,
    rdzv_endpoint: Annotated[str | None, typer.Option(help="With --nnodes > 1: HOST:PORT where the machines meet "
                                                           "(a free port on one of them).")] = None,
    rdzv_id: Annotated[str, typer.Option(help="The job's name at the rendezvous, the same on every machine.")] = "metatutor",
    max_restarts: Annotated[int, typer.Option(help="Restarts of the processes after one dies; the fit resumes from "
                                                   "its checkpoints.")] = 3,
    stream: Annotated[bool | None, typer.Option("--stream/--no-stream", help="Read DATA learner by learner from an "
                                                "on-disk cache, memory bounded (attn, dkt, irt, ensemble; default: "
                                                "with --nproc or --nnodes > 1, a cache folder, or a long-format file "
                                                "over 256 MiB).")] = None,
    cache: Annotated[Path | None, typer.Option(help="With --stream: DATA's cache (default: beside it, DATA.cache; "
                                               "reused while DATA is unchanged).")] = None,
    checkpoints: Annotated[Path | None, typer.Option(help="With --stream: a checkpoint after every epoch (default: "
                                                     "OUT/checkpoints, removed once the model is saved).")] = None,
    dp_epsilon: Annotated[float | None, typer.Option(help="Train with differential privacy (DP-SGD, Opacus) at this ε "
                                                     "per training learner (dkt, attn, irt, ensemble); the (ε, δ) "
                                                     "spent goes into training.json.")] = None,
    dp_delta: Annotated[float | None, typer.Option(help="With --dp-epsilon: δ (default: 1 / training learners).")] = None,
    dp_clip: Annotated[float, typer.Option(help="With --dp-epsilon: each learner's gradient norm bound C.")] = 1.0,
    dp_batch: Annotated[int, typer.Option(help="With --dp-epsilon: expected learners per step.")] = 256,
    dp_epochs: Annotated[int, typer.Option(help="With --dp-epsilon: planned epochs (the budget's steps).")] = 10,
) -> None:
    """Fit a learner model on response logs and save it (with a training.json saying what it saw, and a
    model card, MODEL_CARD.md and model_card.json, with a fairness audit on the validation learners):
    a seeded share of the learners validates (early stopping), the rest trains.

    At scale (--stream, --nproc N): every process reads its share of the learners from DATA's cache, the
    gradients are summed across processes before each step (the same steps as one process), and a killed
    process is restarted from the last epoch's checkpoint. On M machines run on each: metatutor train DATA
    --out MODEL --model ensemble --nproc N --nnodes M --rdzv-endpoint HOST:PORT [--rdzv-id JOB], or torchrun
    yourself: torchrun --nnodes M --nproc-per-node N --rdzv-backend c10d --rdzv-endpoint HOST:PORT
    --rdzv-id JOB -m metatutor.cli train DATA --out MODEL --cache CACHE --model ensemble."""
    import time

    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    _check_output(out, "--out", folder=True)
    from metatutor.learner.registry import LEARNER_MODELS

    if dp_epsilon is not None and (model in LEARNER_MODELS or nproc > 1 or nnodes > 1 or stream):
        raise ConfigError("--dp-epsilon trains the knowledge-tracing models dkt, attn, irt and ensemble, in one "
                          "process and in memory (give --model and leave out --stream, --nproc, --nnodes)")
    if _streamed(data, stream=stream, format=format, parallel=nproc > 1 or nnodes > 1):
        _train_streamed(data, out, model=model, valid=valid, seed=seed, preset=preset, max_epochs=max_epochs,
                        columns=columns, delimiter=delimiter, cache=cache, checkpoints=checkpoints,
                        launch={"nproc": nproc, "nnodes": nnodes, "rdzv_endpoint": rdzv_endpoint, "rdzv_id": rdzv_id,
                                "max_restarts": max_restarts})
        return

    from metatutor.data import holdout_split, read_responses
    from metatutor.data.delimited import parse_delimiter
    from metatutor.evaluation.metrics import score
    from metatutor.learner.registry import fit_for_course
    from metatutor.models import make_model
    from metatutor.models.provenance import TrainingRecord, learner_digests

    with err.status(f"reading {data}…"):
        responses = read_responses(data, format=format, columns=_parse_columns(columns),
                                   delimiter=parse_delimiter(delimiter))
    fit_on, valid_on = holdout_split(responses, valid_fraction=valid, random_state=seed)
    settings: dict[str, Any] = {"random_state": seed, **PRESETS[preset]}
    if max_epochs is not None:
        settings["max_epochs"] = max_epochs
    max_epochs = settings.get("max_epochs")
    t0 = time.perf_counter()
    learner_model: Any
    privacy: dict[str, Any] | None = None
    with _epoch_status(f"fitting {model} on {fit_on.n_learners} learners…", _epoch_plan(model, settings)):
        if dp_epsilon is not None:
            from metatutor.models.privacy import PrivacyConfig, fit_private

            learner_model = make_model(model, **settings)
            privacy = fit_private(learner_model, fit_on, valid_on, PrivacyConfig(
                epsilon=dp_epsilon, delta=dp_delta, max_grad_norm=dp_clip, batch_size=dp_batch, epochs=dp_epochs,
                seed=seed)).to_dict()
            predict_proba = learner_model.predict_proba
        elif model in LEARNER_MODELS:  # the learner model behind every decision, for the course of all these items
            learner_model = fit_for_course(model, fit_on, valid_on, responses, random_state=seed, max_epochs=max_epochs,
                                           settings={} if meta_steps is None else {"meta_steps": meta_steps})
            predict_proba = learner_model.predict_responses
        else:
            learner_model = make_model(model, **settings).fit(fit_on, valid_on)
            predict_proba = learner_model.predict_proba
    seconds = time.perf_counter() - t0
    valid_auc = None if valid_on is None else score(valid_on.correct, predict_proba(valid_on))["auc"]
    learner_model.save(out)
    seen = responses.learners_present()
    record = TrainingRecord(model=model, data=str(data), seed=seed, train_learners=fit_on.n_learners,
                            valid_learners=0 if valid_on is None else valid_on.n_learners,
                            train_responses=len(fit_on), valid_auc=valid_auc, seconds=round(seconds, 1),
                            epochs=list(getattr(learner_model, "history_", [])), learners_seen=learner_digests(seen),
                            privacy=privacy)
    record.write(out)
    from metatutor.evaluation.cards import write_card

    with err.status("auditing the validation learners for the model card…"):
        write_card(out, record, kind=getattr(learner_model, "name", None), valid=valid_on, predict=predict_proba)
    table = Table(title=f"{model} fitted on {data.name}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    table.add_row("training learners / responses", f"{fit_on.n_learners} / {len(fit_on)}")
    table.add_row("validation learners", str(record.valid_learners))
    if valid_auc is not None:
        table.add_row("validation AUC", f"{valid_auc:.4f} (these learners early-stopped it: optimistic)")
    table.add_row("fit time", f"{seconds:.1f} s")
    if privacy is not None:
        table.add_row("differential privacy", f"ε = {privacy['epsilon']:.3g}, δ = {privacy['delta']:.2g} per training "
                                              f"learner ({privacy['steps']} noisy steps, σ = {privacy['noise_multiplier']:.3g})")
    table.add_row("saved to", f"{out} (with training.json, MODEL_CARD.md)")
    console.print(table)


@app.command()
@friendly
def predict(
    model_dir: Annotated[Path, typer.Argument(help="A model folder written by `metatutor train` or `save`.")],
    data: Annotated[Path, typer.Argument(help="Response logs to score (a file or a dataset folder).")],
    out: Annotated[Path | None, typer.Option(help="Write each response's P(correct), from the learner's earlier "
                                                  "responses only (.csv, .tsv or .parquet).")] = None,
    mastery: Annotated[Path | None, typer.Option(help="Write each learner's mastery of each skill after all their "
                                                      "responses (learners x skills).")] = None,
    format: FormatOption = None,
    columns: Annotated[str | None, typer.Option(help="Column mapping, e.g. learner=stu,item=q,correct=ok.")] = None,
    delimiter: DelimiterOption = None,
    new_learners: Annotated[bool, typer.Option("--new-learners", help="These are not the model's training "
                                               "learners, whatever their ids: prefix their ids with 'new:'.")]
    = False,
) -> None:
    """Score response logs with a saved model: P(correct) of every response as it came (and AUC, accuracy,
    RMSE against the answers), and where asked each learner's mastery per skill."""
    _check_output(out, "--out", suffixes=TABLE_SUFFIXES)
    _check_output(mastery, "--mastery", suffixes=TABLE_SUFFIXES)
    from metatutor.data import read_responses
    from metatutor.data.delimited import parse_delimiter
    from metatutor.data.summary import item_coverage
    from metatutor.evaluation.metrics import score
    from metatutor.learner.registry import scorer
    from metatutor.models import load_model
    from metatutor.models.provenance import TrainingRecord

    learner_model: Any = scorer(model_dir) if (model_dir / "learner.json").exists() else load_model(str(model_dir))
    with err.status(f"reading {data}…"):
        responses = read_responses(data, format=format, columns=_parse_columns(columns),
                                   delimiter=parse_delimiter(delimiter))
    if new_learners:
        responses = responses.with_learner_prefix("new:")
    vocab = getattr(learner_model, "vocab_", None)
    coverage = None if vocab is None else item_coverage(responses, vocab.item_ids)
    if coverage is not None and coverage.unseen_fraction > 0.5:
        err.print(f"[yellow]warning:[/] {coverage.unseen_items} of these {coverage.items} items "
                  f"({coverage.unseen_response_fraction:.0%} of the responses) were never seen in training "
                  f"(e.g. {', '.join(coverage.examples)}): the model learned nothing about them; was it trained on "
                  "this dataset?", highlight=False)
    with err.status(f"scoring {len(responses)} responses…"):
        proba = learner_model.predict_proba(responses)
    if out is not None:
        frame = responses.to_frame()
        frame["p_correct"] = proba
        _write_table(frame.set_index("learner"), out)
    if mastery is not None:
        _write_table(learner_model.mastery(responses), mastery)
    s = score(responses.correct, proba)
    record = TrainingRecord.read(model_dir)
    seen = record.seen(responses) if record is not None else None
    console.print(f"{len(responses)} responses of {responses.n_learners} learners: AUC {s['auc']:.4f}, "
                  f"accuracy {s['acc']:.4f}, RMSE {s['rmse']:.4f}")
    if seen:
        err.print(f"[yellow]warning:[/] {seen} of these {responses.n_learners} learners were in the model's "
                  "training or validation data: these figures are not a test on new learners (if they are other "
                  "people whose ids collide, say so with --new-learners)", highlight=False)
    elif seen is None:
        err.print("note: the model has no training.json, so which learners it has seen is unknown", highlight=False)
    if new_learners:
        err.print("note: learner ids prefixed with 'new:' (--new-learners)", highlight=False)


def _need_service_extra() -> None:
    """A one-paragraph error (exit code 2) rather than a traceback when the `service` extra is missing."""
    import importlib.util

    missing = [m for m in ("fastapi", "uvicorn", "sqlalchemy", "alembic", "jinja2", "python_multipart")
               if importlib.util.find_spec(m) is None]
    if missing:
        from metatutor.errors import ConfigError

        raise ConfigError(f"the service needs the 'service' extra: pip install 'metatutor[service]' "
                          f"(missing: {', '.join(missing)})")


@app.command()
@friendly
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (one per core is usual).")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level: warning, info, debug.")] = "warning",
) -> None:
    """Run the web service (settings from METATUTOR_* environment variables; OpenAPI docs at /docs)."""
    _need_service_extra()
    import uvicorn

    from metatutor.service.app import create_app, prepare_database
    from metatutor.service.db import make_engine
    from metatutor.service.settings import Settings
    from metatutor.service.workers import PortInUse, port_lock, reuseport_supported, run_workers

    try:
        with port_lock(host, port) as lock:
            console.print(f"metatutor serving on http://{host}:{port}/ (API docs: http://{host}:{port}/docs)")
            if workers > 1:  # each worker builds its app from the environment; the schema is migrated once, here
                settings = Settings()
                prepare_database(make_engine(settings.database_url), settings)
                if reuseport_supported():  # a listening socket per worker: connections spread evenly (workers.py)
                    run_workers(host, port, workers, lock=lock, log_level=log_level)
                else:
                    uvicorn.run("metatutor.service.app:worker_app", factory=True, host=host, port=port,
                                workers=workers, log_level=log_level, timeout_worker_healthcheck=30)
            else:
                uvicorn.run(create_app(), host=host, port=port, log_level=log_level)
    except (PortInUse, OSError, ValueError, RuntimeError) as e:
        raise ConfigError(f"cannot serve on {host}:{port}: {e}") from e


def _key_sessions() -> Any:
    """Sessions on the service's database (migrated to the newest schema first)."""
    _need_service_extra()
    from metatutor.service.db import make_engine, migrate, session_factory
    from metatutor.service.settings import Settings

    engine = make_engine(Settings().database_url)
    migrate(engine)
    return session_factory(engine)


@keys_app.command("create")
@friendly
def keys_create(
    role: Annotated[str, typer.Argument(help="admin, teacher or learner.")],
    subject: Annotated[str | None, typer.Argument(help="The teacher's or learner's id (none for an admin).")] = None,
    label: Annotated[str | None, typer.Option(help="A note to recognise the key by in `keys list`.")] = None,
    expires_in_days: Annotated[float | None, typer.Option(help="Days until the key stops working.")] = None,
) -> None:
    """Make an API key and print it (shown once; only its hash is stored)."""
    from pydantic import ValidationError

    from metatutor.service.schemas import KeyIn
    from metatutor.service.security import new_key
    from metatutor.service.tables import Learner

    try:
        body = KeyIn(role=role, subject=subject, label=label, expires_in_days=expires_in_days)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError("; ".join(e["msg"] for e in exc.errors())) from None
    with _key_sessions()() as session:
        if body.role == "learner" and session.get(Learner, body.subject) is None:
            raise ConfigError(f"no learner {body.subject!r}: create the learner first")
        key, row = new_key(session, body.role, body.subject, label=body.label, expires_in_days=body.expires_in_days)
    console.print(f"key {row.id} ({row.role}{f' {row.subject}' if row.subject else ''}): [bold]{key}[/bold]")


@keys_app.command("list")
@friendly
def keys_list() -> None:
    """Every key: id, role, subject, label, expiry, last use (never the key itself)."""
    import datetime as dt

    from sqlalchemy import select

    from metatutor.service.tables import ApiKey

    def when(t: float | None) -> str:
        return "-" if t is None else dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M")

    table = Table(title="API keys")
    for col in ("id", "role", "subject", "label", "created", "expires", "last used"):
        table.add_column(col)
    with _key_sessions()() as session:
        for row in session.scalars(select(ApiKey).order_by(ApiKey.id)):
            table.add_row(str(row.id), row.role, row.subject or "-", row.label or "-", when(row.created),
                          when(row.expires), when(row.last_used))
    console.print(table)


@keys_app.command("revoke")
@friendly
def keys_revoke(key_id: Annotated[int, typer.Argument(help="The key's id (from `keys list`).")]) -> None:
    """Revoke a key and end its dashboard sessions (running servers stop accepting it within cache_seconds)."""
    from metatutor.service.security import revoke_key

    with _key_sessions()() as session:
        if revoke_key(session, key_id) is None:
            raise ConfigError(f"no key {key_id}")
    console.print(f"key {key_id} revoked")


@app.command()
@friendly
def demo(
    port: Annotated[int, typer.Option(help="Port to serve on (0: any free port).")] = 8000,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    data: Annotated[Path | None, typer.Option(help="A real dataset (file or folder) instead of the simulator.")] = None,
    database: Annotated[str | None, typer.Option(
        help="Database URL or SQLite file (default: demo.db in the user data dir, one per dataset).")] = None,
    fresh: Annotated[bool, typer.Option(help="Start from an empty database.")] = False,
    learners: Annotated[int, typer.Option(help="Simulated learners the models are trained on.")] = 40,
    seed: Annotated[int, typer.Option(help="Seed of the simulator and the model.")] = 0,
    serve: Annotated[bool, typer.Option(help="Serve after setting up (--no-serve: set up, print, exit).")] = True,
    learner_model: Annotated[str, typer.Option(help="The learner model every decision reads: default (= meta, "
                                                    "meta-learned over the simulated learners) or tracker (the "
                                                    "hand-built skill tracker).")] = "default",
) -> None:
    """The whole service on one machine: a SQLite database, the built-in maths course (or --data), the
    meta-learned learner model and a knowledge-tracing model trained on simulated learners at first start
    (about ten seconds, each step printed), a class with a teacher, and the dashboard at the printed URL with a demo learner's,
    teacher's and admin's key. Serves until interrupted."""
    import socket

    def step(text: str) -> None:  # one line per step, flushed: shown as it happens, through a pipe too
        console.print(f"  {text}", highlight=False)
        console.file.flush()

    step("loading the service…")
    _need_service_extra()
    import uvicorn

    from metatutor.service.app import create_app
    from metatutor.service.demo import LEARNER, TEACHER, setup_demo
    from metatutor.service.settings import Settings, data_dir

    if database is None:
        database = str(data_dir() / (f"demo-{data.stem}.db" if data else "demo.db"))
    url = database if "://" in database else f"sqlite:///{Path(database).expanduser().resolve()}"
    if fresh and url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm", ".write-lock"):
            Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    responses = None
    if data is not None:
        from metatutor.data import read_responses

        step(f"reading {data}…")
        responses = read_responses(str(data))
    step(f"opening the database ({url})")
    app_ = create_app(Settings(database_url=url))
    if learner_model not in ("default", "meta", "tracker"):
        raise ConfigError(f"--learner-model {learner_model!r}: choose default, meta or tracker")
    keys = setup_demo(app_.state.sessions, data=responses, learners=learners, seed=seed, learner_model=learner_model,
                      progress=step)
    if port == 0:
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
    console.print(f"[bold]metatutor demo[/bold] on http://{host}:{port}/  (database: {url})")
    console.print(f"  learner {LEARNER}: log in with key [bold]{keys.learner}[/bold]")
    console.print(f"  teacher {TEACHER}: log in with key [bold]{keys.teacher}[/bold]")
    console.print(f"  admin (API and dashboard): {keys.admin}")
    console.print(f"  API docs: http://{host}:{port}/docs   (Ctrl+C stops)")
    console.file.flush()
    if serve:
        uvicorn.run(app_, host=host, port=port, log_level="warning")


@app.command()
@friendly
def compare(
    learners: Annotated[int, typer.Option(help="Simulated learners in the cohort.")] = 600,
    seed: Annotated[int, typer.Option(help="Seed of the simulator and the models.")] = 0,
    models: Annotated[str, typer.Option(help="Comma-separated models to fit and compare (any of `metatutor "
                                             "train --model`).")] = "irt,bkt,pfa,bestlr,dkt",
) -> None:
    """Simulate a cohort with the built-in simulator, fit the learner models on 80% of the learners and
    print how well each predicts the other 20% (learners it has never seen)."""
    from metatutor.data.simulator import Simulator
    from metatutor.data.splits import kfold_splits
    from metatutor.evaluation.metrics import score
    from metatutor.models import make_model

    sim = Simulator(random_state=seed)
    with console.status("simulating learners…"):
        data = sim.simulate(learners, (30, 150))
    console.print(f"Simulated {data.n_learners} learners, {len(data)} responses on {data.n_items} items "
                  f"and {data.n_skills} skills (prerequisites: {len(sim.course.prerequisites)}).")
    split = kfold_splits(data, k=5, random_state=seed)[0]
    table = Table(title="Next-response prediction on unseen simulated learners")
    for col in ("model", "AUC", "ACC", "RMSE", "fit s"):
        table.add_column(col, justify="right" if col != "model" else "left")
    import time

    for name in [m.strip() for m in models.split(",") if m.strip()]:
        with console.status(f"fitting {name}…"):
            t0 = time.perf_counter()
            model = make_model(name, random_state=seed, max_epochs=15).fit(split.train, split.valid)
            fit_s = time.perf_counter() - t0
            s = score(split.test.correct, model.predict_proba(split.test))
        table.add_row(name, f"{s['auc']:.4f}", f"{s['acc']:.4f}", f"{s['rmse']:.4f}", f"{fit_s:.1f}")
    console.print(table)


# ----- trust: the fairness audit, a learner's data, retention, explanations ------------------------------


def _read_learners(data: Path, fold: int | None, format: str | None) -> Any:
    """DATA as it is, or with --fold the test learners of that fold of a dataset folder."""
    from metatutor.data import DatasetFolder, read_responses

    with err.status(f"reading {data}…"):
        return DatasetFolder(data).fold_split(fold).test if fold is not None else read_responses(data, format=format)


def _predictor(model_dir: Path) -> Any:
    """A saved knowledge-tracing model, or a saved learner model (`learner.json`) as a predictor."""
    if (model_dir / "learner.json").is_file():
        from metatutor.evaluation.audit import TrackerPredictor
        from metatutor.learner import load_tracker

        return TrackerPredictor(load_tracker(model_dir))
    from metatutor.models import load_model

    return load_model(str(model_dir))


@app.command()
@friendly
def audit(
    model_dir: Annotated[Path, typer.Argument(help="A model folder written by `metatutor train`.")],
    data: Annotated[Path, typer.Argument(help="Response logs of learners the model was not fitted on (a file, or a "
                                              "dataset folder with --fold).")],
    fold: Annotated[int | None, typer.Option(help="Audit the test learners of this fold of a dataset folder.")] = None,
    attributes: Annotated[Path | None, typer.Option(help="A learner-attribute table (CSV/TSV/Parquet): every column "
                                                         "but the learner id is a split into groups.")] = None,
    learner_column: Annotated[str, typer.Option(help="The attribute table's learner-id column.")] = "learner",
    splits: Annotated[str | None, typer.Option(help="Comma-separated splits to audit (default: all).")] = None,
    permutations: Annotated[int, typer.Option(help="Shuffles of the group labels per randomisation test.")] = 1000,
    simulate: Annotated[bool, typer.Option(help="Also run the practice and adaptive-test studies by group.")] = False,
    out: Annotated[Path | None, typer.Option(help="Write the report here: .md (figures beside it) or .html.")] = None,
    json_path: JsonOption = None,
    format: FormatOption = None,
) -> None:
    """Fairness audit: per group, size, base rate, AUC, calibration (ECE, reliability), cold start at k = 1, 3,
    5 and per-skill slices; between groups, ABROCA and the AUC and ECE gaps, each with a randomisation test."""
    from metatutor.evaluation.audit import audit_model
    from metatutor.evaluation.fairness import AuditConfig
    from metatutor.evaluation.fairness_report import write_report
    from metatutor.evaluation.groups import read_attributes
    from metatutor.models.provenance import TrainingRecord

    _check_output(out, "--out", suffixes=(".md", ".html", ".htm"))
    _check_output(json_path, "--json")
    model = _predictor(model_dir)
    responses = _read_learners(data, fold, format)
    record = TrainingRecord.read(model_dir)
    seen = record.seen(responses) if record is not None else 0
    if seen:
        err.print(f"[yellow]warning:[/] {seen} of these learners were in the model's training or validation data: "
                  "audit learners it has not seen", highlight=False)
    table_of = read_attributes(attributes, learner_column=learner_column) if attributes else None
    with err.status(f"auditing {responses.n_learners} learners ({permutations} shuffles per test)…"):
        result = audit_model(model, responses, attributes=table_of, splits=_names(splits),
                             config=AuditConfig(permutations=permutations), name=model_dir.name,
                             data=f"{data.name}{f' fold {fold} test' if fold is not None else ''}")
    if simulate:
        from metatutor.evaluation.fairness_sim import SimulationConfig, cat_by_group, practice_by_group

        with err.status("simulating practice and adaptive tests by group…"):
            sim = SimulationConfig(permutations=permutations)
            result.simulation = {"practice": practice_by_group(sim), "cat": cat_by_group(sim)}
    payload = result.to_json()
    table = Table(title=f"fairness audit: {model_dir.name} on {responses.n_learners} learners")
    for col in ("split", "groups", "ABROCA", "p", "AUC gap", "p ", "worst ECE", "goals met"):
        table.add_column(col, justify="left" if col == "split" else "right")
    for row in payload["summary"]:
        met = "yes" if row["abroca_met"] and row["ece_met"] else "no"
        table.add_row(row["split"], str(row["groups"]), f"{row['abroca']:.4f}", f"{row['abroca_p']:.3f}",
                      f"{row['auc_gap']:.4f}", f"{row['auc_gap_p']:.3f}", f"{row['worst_ece']:.4f}", met)
    console.print(table)
    if out:
        console.print(f"report: {write_report(payload, out)}")
    if json_path:
        json_path.write_text(json.dumps(payload, indent=1))


@app.command("export")
@friendly
def export_learner(
    data: Annotated[Path, typer.Argument(help="Response logs holding the learner.")],
    learner: Annotated[str, typer.Argument(help="The learner's id.")],
    format_: Annotated[str, typer.Option("--as", help="json (one document) or xapi (a list of statements).")] = "json",
    out: Annotated[Path | None, typer.Option(help="Write here (default: print).")] = None,
    model_dir: Annotated[Path | None, typer.Option("--model", help="Add what this model infers about them: mastery per "
                                                   "skill, and whether it was trained on them.")] = None,
    homepage: Annotated[str, typer.Option(help="xAPI: the account home page of learner ids.")] = "https://metatutor.invalid",
    format: FormatOption = None,
) -> None:
    """A learner's data, for them (right of access): their answers as JSON or as xAPI statements."""
    from metatutor.data import read_responses
    from metatutor.data.export import answers_of, learner_export, xapi_statements

    if format_ not in ("json", "xapi"):
        raise ConfigError(f"--as takes json or xapi, not {format_!r}")
    _check_output(out, "--out")
    responses = read_responses(data, format=format)
    answers = answers_of(responses, learner)
    if format_ == "xapi":
        payload: Any = xapi_statements(learner, answers, homepage=homepage)
    else:
        derived: dict[str, Any] = {}
        if model_dir is not None:
            import numpy as np

            from metatutor.models.provenance import TrainingRecord, learner_digests

            mine = responses.select_learners([learner])
            model = _predictor(model_dir)
            if hasattr(model, "mastery"):
                derived["mastery"] = {str(k): round(float(v), 4) for k, v in model.mastery(mine).iloc[0].items()}
            record = TrainingRecord.read(model_dir)
            derived["pseudonym"] = learner_digests(np.array([learner]))[0]
            derived["in_training_data"] = None if record is None else bool(record.seen(mine))
        payload = learner_export(learner, answers, derived=derived)
    text = json.dumps(payload, indent=1)
    if out is None:
        console.print_json(text)
    else:
        out.write_text(text)
        console.print(f"{len(answers)} answers of {learner} written to {out}")


@app.command()
@friendly
def purge(
    data: Annotated[Path, typer.Argument(help="Response logs with times.")],
    older_than_days: Annotated[float, typer.Option(help="Purge answers older than this many days.")],
    out: Annotated[Path, typer.Option(help="Write the answers kept here (.csv, .tsv or .parquet).")],
    now: Annotated[float | None, typer.Option(help="The time to count back from (seconds since 1970; default: now).")]
    = None,
    format: FormatOption = None,
) -> None:
    """Retention: keep only the answers of the last N days; says whose learner state must be rebuilt."""
    from metatutor.data import read_responses
    from metatutor.data.retention import purge_older_than

    _check_output(out, "--out", suffixes=TABLE_SUFFIXES)
    kept, summary = purge_older_than(read_responses(data, format=format), older_than_days, now=now)
    _write_table(kept.to_frame().set_index("learner"), out)
    console.print(f"purged {summary.removed_answers} answers older than {older_than_days:g} days, kept "
                  f"{summary.kept_answers}; {len(summary.removed_learners)} learners have none left, "
                  f"{len(summary.rebuild)} keep some (rebuild their states from {out})")


@app.command()
@friendly
def explain(
    model_dir: Annotated[Path, typer.Argument(help="A knowledge-tracing model folder.")],
    data: Annotated[Path, typer.Argument(help="Response logs holding the learner's history.")],
    learner: Annotated[str, typer.Option(help="The learner whose prediction to explain.")],
    item: Annotated[str, typer.Option(help="The item predicted next.")],
    skills: Annotated[str | None, typer.Option(help="Its skills, comma-separated, if the history does not show them.")]
    = None,
    method: Annotated[str, typer.Option(help="auto (exact: additive, or Shapley over the last --window answers) or "
                                             "leave-one-out.")] = "auto",
    window: Annotated[int, typer.Option(help="Answers attributed exactly (2^window predictions).")] = 8,
    top: Annotated[int, typer.Option(help="Answers shown.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print the explanation as JSON.")] = False,
    format: FormatOption = None,
) -> None:
    """Which of the learner's earlier answers moved the prediction for ITEM most (logit scale)."""
    from metatutor.data import read_responses
    from metatutor.models import load_model
    from metatutor.models.explain import explain_prediction

    history = read_responses(data, format=format).select_learners([learner])
    if not len(history):
        raise ConfigError(f"no learner {learner!r} in {data}")
    why = explain_prediction(load_model(str(model_dir)), history, item, skills=_names(skills), method=method,
                             window=window, top=top)
    if as_json:
        console.print_json(json.dumps(why.to_dict()))
        return
    console.print(f"P(correct on {item}) = {why.probability:.3f} ({why.baseline:.3f} without the attributed answers); "
                  f"{why.note}")
    table = Table()
    for col in ("position", "item", "answer", "contribution (logit)"):
        table.add_column(col, justify="right")
    for a in why.attributions:
        table.add_row(str(a.position), a.item, "right" if a.correct else "wrong", f"{a.contribution:+.4f}")
    console.print(table)


if __name__ == "__main__":  # pragma: no cover
    app()
