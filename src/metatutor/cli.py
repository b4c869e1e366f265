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
                  no_args_is_help=True, add_completion=False)
data_app = typer.Typer(help="Inspect learner-response data.", no_args_is_help=True)
bench_app = typer.Typer(help="Reproducible benchmarks (results as a table, Markdown and JSON).", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(bench_app, name="benchmark")
console = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

# options that several benchmarks share
FoldsOption = Annotated[str | None, typer.Option(help="Comma-separated folds (all when omitted).")]
KOption = Annotated[int, typer.Option(help="Number of folds for the kfold protocol.")]
FormatOption = Annotated[str | None, typer.Option(help="Input format (detected when omitted).")]
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


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@data_app.command("check")
@friendly
def data_check(
    path: Annotated[Path, typer.Argument(help="A response file or a dataset folder.")],
    format: Annotated[str | None, typer.Option(help="long, lines3, lines4 or pykt (detected when omitted).")] = None,
    columns: Annotated[str | None, typer.Option(help="Column mapping, e.g. learner=stu,item=q,correct=ok.")] = None,
    encoding: Annotated[str | None, typer.Option(help="Text encoding (UTF-8 when omitted).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Read PATH and print what it holds: learners, items, skills, responses, multi-skill items,
    duplicates and the distribution of sequence lengths."""
    from metatutor.data.folders import DatasetFolder
    from metatutor.data.readers import read_responses
    from metatutor.data.summary import describe

    cols = _parse_columns(columns)
    reports: dict[str, dict[str, Any]] = {}
    if path.is_dir():
        folder = DatasetFolder(path)
        for stem, group in folder.groups.items():
            responses = folder.all_responses(stem=stem, format=format, columns=cols)
            info = describe(responses)
            info["folds"] = group.folds if group.folds else ("pyKT train_valid + test" if group.is_pykt else [])
            reports[stem or path.name] = info
    else:
        reports[path.name] = describe(read_responses(path, format=format, columns=cols, encoding=encoding))
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


def _write_outputs(result: Any, json_path: Path | None, markdown: Path | None, plot: Path | None = None) -> None:
    """Write a benchmark result as JSON, Markdown and a plot, where asked."""
    if json_path:
        result.write_json(json_path)
    if markdown:
        markdown.write_text(result.to_markdown())
    if plot:
        result.plot(plot)


@bench_app.command("kt")
@friendly
def benchmark_kt(
    data: Annotated[Path, typer.Option(help="A dataset folder or file.")],
    protocol: Annotated[str, typer.Option(help="folds, pykt, kfold or auto.")] = "auto",
    models: Annotated[str, typer.Option(help="Comma-separated: irt,irt2pl,bkt,bktf,pfa,bestlr,dkt,attn,pairs,ensemble (attn + dkt + irt),"
                                      "ensemble-pairs (and pairs),default (= ensemble-pairs).")] =
    "irt,bkt,pfa,bestlr,dkt",
    folds: FoldsOption = None,
    seed: Annotated[int, typer.Option(help="Seed of models and of kfold splits.")] = 0,
    k: KOption = 5,
    format: FormatOption = None,
    json_path: JsonOption = None,
    markdown: MarkdownOption = None,
) -> None:
    """Next-response prediction on learners never seen in training (question level)."""
    from metatutor.evaluation.benchmark import run_kt_benchmark
    from metatutor.evaluation.protocols import available_folds, resolve_protocol

    names = [m.strip() for m in models.split(",") if m.strip()]
    fold_list = _ints(folds)
    proto = resolve_protocol(data, protocol)
    n_steps = len(names) * len(fold_list or available_folds(data, proto, k=k))
    with _progress(f"benchmark kt on {data.name}", n_steps) as step:
        result = run_kt_benchmark(data, protocol=proto, models=names, folds=fold_list, seed=seed, k=k,
                                  format=format, progress=step)
    table = Table(title=f"benchmark kt: {result.dataset} ({result.protocol})")
    for col in ("model", "AUC", "± std", "ACC", "RMSE", "folds", "train s/fold"):
        table.add_column(col, justify="right" if col != "model" else "left")
    for model, s in result.summary().items():
        table.add_row(model, f"{s['auc']:.4f}", f"{s['auc_std']:.4f}", f"{s['acc']:.4f}", f"{s['rmse']:.4f}",
                      str(int(s["folds"])), f"{s['train_seconds']:.0f}")
    console.print(table)
    _write_outputs(result, json_path, markdown)


@bench_app.command("coldstart")
@friendly
def benchmark_coldstart(
    data: Annotated[Path, typer.Option(help="A dataset folder or file.")],
    protocol: Annotated[str, typer.Option(help="folds, pykt, kfold or auto.")] = "auto",
    models: Annotated[str, typer.Option(help="Comma-separated: population,scratch,map,finetune,dkt,irt,maml,"
                                        "fomaml,reptile,metasgd,proto,amortized,default.")] =
    "population,scratch,map,finetune,dkt,irt,maml,fomaml,reptile,metasgd,proto,amortized",
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
    """New learners: observe their first k answers, adapt, predict the next 10 without seeing them."""
    from metatutor.evaluation.coldstart import run_coldstart_benchmark
    from metatutor.evaluation.protocols import available_folds, resolve_protocol
    from metatutor.meta import OURS

    names = [m.strip() for m in models.split(",") if m.strip()]
    fold_list = _ints(folds)
    proto = resolve_protocol(data, protocol)
    settings: dict[str, dict[str, object]] = {}
    if meta_steps is not None:
        settings = {name: {"meta_steps": meta_steps} for name in (*OURS, "default")}
    n_steps = len(names) * len(fold_list or available_folds(data, proto, k=k))
    with _progress(f"benchmark coldstart on {data.name}", n_steps) as step:
        result = run_coldstart_benchmark(data, protocol=proto, models=names, folds=fold_list, seed=seed, k=k,
                                         format=format, settings=settings, progress=step)
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
    _write_outputs(result, json_path, markdown, plot)


@bench_app.command("cat")
@friendly
def benchmark_cat(
    data: Annotated[Path | None, typer.Option(help="A dataset folder or file (BOBCAT protocol).")] = None,
    protocol: Annotated[str, typer.Option(help="folds (the AKT test files as parts) or kfold.")] = "folds",
    selectors: Annotated[str, typer.Option(help="Comma-separated: random,mfi,kl,meta,default.")] =
    "random,mfi,kl,meta,default",
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
    if simulation:
        from metatutor.evaluation.cat_simulation import CONDITIONS, run_cat_simulation

        with _progress("CAT simulation", len(CONDITIONS)) as step:
            study = run_cat_simulation(n_examinees=examinees, seed=seed, progress=step)
        console.print(study.to_markdown())
        _write_outputs(study, json_path, markdown, plot)
        return
    if data is None:
        from metatutor.errors import ConfigError

        raise ConfigError("give --data PATH (or --simulation)")
    from metatutor.evaluation.cat import NS, run_cat_benchmark

    names = [s.strip() for s in selectors.split(",") if s.strip()]
    fold_list = _ints(folds)
    n_steps = len(names) * len(fold_list or range(k))
    with _progress(f"benchmark cat on {data.name}", n_steps) as step:
        result = run_cat_benchmark(data, protocol=protocol, selectors=names, folds=fold_list, seed=seed, k=k,
                                   format=format, progress=step)
    table = Table(title=f"benchmark cat: {result.dataset} ({result.protocol}), held-out AUC / accuracy (%)")
    table.add_column("selector")
    for n in NS:
        table.add_column(f"n={n}", justify="right")
    for sel, s in result.summary().items():
        table.add_row(sel, *[f"{100 * s['auc_at_n'][str(n)]:.2f} / {100 * s['acc_at_n'][str(n)]:.2f}" for n in NS])
    console.print(table)
    _write_outputs(result, json_path, markdown)


@bench_app.command("practice")
@friendly
def benchmark_practice(
    learners: Annotated[int, typer.Option(help="Simulated learners per policy.")] = 500,
    budget: Annotated[int, typer.Option(help="Answers before the post-test.")] = 60,
    max_items: Annotated[int, typer.Option(help="Answers at most while waiting for true mastery.")] = 300,
    policies: Annotated[str, typer.Option(help="Comma-separated policies.")] =
    "random,curriculum,mastery,target,gain,thompson,review,default",
    seed: Annotated[int, typer.Option(help="Seed of the course, the learners and the policies.")] = 0,
    data: Annotated[Path | None, typer.Option(help="Also run a simulator fitted to this dataset (DKT trained on it).")] = None,
    json_path: JsonOption = None,
    markdown: MarkdownOption = None,
    plot: Annotated[Path | None, typer.Option(help="Write the learning curves (PNG) here.")] = None,
) -> None:
    """Practice policies on simulated learners: items to true mastery of the goals, post-test after a
    fixed budget, retention after a delay, learning curves."""
    from metatutor.evaluation.practice import PracticeConfig, run_practice_benchmark

    names = [p.strip() for p in policies.split(",") if p.strip()]
    config = PracticeConfig(n_learners=learners, budget=budget, max_items=max_items, seed=seed)
    with _progress("benchmark practice", len(names) * (2 if data else 1)) as step:
        result = run_practice_benchmark(config, names, data=data, progress=step)
    table = Table(title="benchmark practice (mean ± 95% CI)")
    for col in ("simulator", "policy", "items to mastery", "post-test", "retention"):
        table.add_column(col, justify="left" if col in ("simulator", "policy") else "right")
    for pol, s in result.summary().items():
        for sim, e in s["by_simulator"].items():
            cells = [("–" if e[k] is None else f"{e[k]:.3f} ± {e[k + '_ci95']:.3f}") for k in
                     ("items_to_mastery", "posttest", "retention")]
            table.add_row(sim, pol, *cells)
    console.print(table)
    _write_outputs(result, json_path, markdown, plot)


@contextlib.contextmanager
def _epoch_status(title: str) -> Iterator[None]:
    """A status line that follows the models' epochs as they finish."""
    from metatutor.models.epochs import follow_epochs

    def show(name: str, epoch: int, info: dict[str, float]) -> None:
        auc = f", valid AUC {info['valid_auc']:.4f}" if "valid_auc" in info else ""
        status.update(f"fitting {name}: epoch {epoch}{auc} ({info.get('seconds', 0):.0f} s)")

    with err.status(title) as status, follow_epochs(show):
        yield


def _write_table(frame: Any, path: Path) -> None:
    """CSV, TSV or Parquet by the file's suffix."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame.to_parquet(path)
    elif suffix in (".csv", ".tsv", ".txt"):
        frame.to_csv(path, sep="\t" if suffix == ".tsv" else ",")
    else:
        raise ConfigError(f"write {path.name} as .csv, .tsv or .parquet")


@app.command()
@friendly
def train(
    data: Annotated[Path, typer.Argument(help="Response logs: a file or a dataset folder (every learner in it).")],
    out: Annotated[Path, typer.Option(help="Folder to save the fitted model in.")],
    model: Annotated[str, typer.Option(help="Registry name: default (= ensemble-pairs), attn, dkt, ensemble, pairs, irt, bkt, "
                                            "pfa, bestlr, ...")] = "default",
    valid: Annotated[float, typer.Option(help="Fraction of learners held out to early-stop and score it.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the split and the model.")] = 0,
    max_epochs: Annotated[int | None, typer.Option(help="Most epochs (neural models; default: theirs).")] = None,
    format: FormatOption = None,
    columns: Annotated[str | None, typer.Option(help="Column mapping, e.g. learner=stu,item=q,correct=ok.")] = None,
) -> None:
    """Fit a learner model on response logs and save it (with a training.json saying what it saw):
    a seeded share of the learners validates (early stopping), the rest trains."""
    import time

    from metatutor.data import holdout_split, read_responses
    from metatutor.evaluation.metrics import score
    from metatutor.models import make_model
    from metatutor.models.provenance import TrainingRecord, learner_digests

    with err.status(f"reading {data}…"):
        responses = read_responses(data, format=format, columns=_parse_columns(columns))
    fit_on, valid_on = holdout_split(responses, valid_fraction=valid, random_state=seed)
    settings: dict[str, Any] = {"random_state": seed}
    if max_epochs is not None:
        settings["max_epochs"] = max_epochs
    learner_model = make_model(model, **settings)
    t0 = time.perf_counter()
    with _epoch_status(f"fitting {model} on {fit_on.n_learners} learners…"):
        learner_model.fit(fit_on, valid_on)
    seconds = time.perf_counter() - t0
    valid_auc = None if valid_on is None else score(valid_on.correct, learner_model.predict_proba(valid_on))["auc"]
    learner_model.save(out)
    seen = responses.learners_present()
    record = TrainingRecord(model=model, data=str(data), seed=seed, train_learners=fit_on.n_learners,
                            valid_learners=0 if valid_on is None else valid_on.n_learners,
                            train_responses=len(fit_on), valid_auc=valid_auc, seconds=round(seconds, 1),
                            epochs=list(getattr(learner_model, "history_", [])), learners_seen=learner_digests(seen))
    record.write(out)
    table = Table(title=f"{model} fitted on {data.name}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    table.add_row("training learners / responses", f"{fit_on.n_learners} / {len(fit_on)}")
    table.add_row("validation learners", str(record.valid_learners))
    if valid_auc is not None:
        table.add_row("validation AUC", f"{valid_auc:.4f} (these learners early-stopped it: optimistic)")
    table.add_row("fit time", f"{seconds:.1f} s")
    table.add_row("saved to", str(out))
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
) -> None:
    """Score response logs with a saved model: P(correct) of every response as it came (and AUC, accuracy,
    RMSE against the answers), and where asked each learner's mastery per skill."""
    from metatutor.data import read_responses
    from metatutor.evaluation.metrics import score
    from metatutor.models import load_model
    from metatutor.models.provenance import TrainingRecord

    learner_model = load_model(str(model_dir))
    with err.status(f"reading {data}…"):
        responses = read_responses(data, format=format, columns=_parse_columns(columns))
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
                  "training or validation data: these figures are not a test on new learners", highlight=False)
    elif seen is None:
        err.print("note: the model has no training.json, so which learners it has seen is unknown", highlight=False)


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

    console.print(f"metatutor serving on http://{host}:{port}/ (API docs: http://{host}:{port}/docs)")
    if workers > 1:  # each worker builds its app from the environment; the schema is migrated once, here
        settings = Settings()
        prepare_database(make_engine(settings.database_url), settings)
        from metatutor.service.workers import reuseport_supported, run_workers

        if reuseport_supported():  # a listening socket per worker: connections spread evenly (workers.py)
            try:
                run_workers(host, port, workers, log_level=log_level)
            except (OSError, ValueError, RuntimeError) as e:
                raise ConfigError(f"cannot serve on {host}:{port} with {workers} workers: {e}") from e
        else:
            uvicorn.run("metatutor.service.app:worker_app", factory=True, host=host, port=port, workers=workers,
                        log_level=log_level, timeout_worker_healthcheck=30)
    else:
        uvicorn.run(create_app(), host=host, port=port, log_level=log_level)


@app.command()
@friendly
def demo(
    port: Annotated[int, typer.Option(help="Port to serve on (0: any free port).")] = 8000,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    data: Annotated[Path | None, typer.Option(help="A real dataset (file or folder) instead of the simulator.")] = None,
    database: Annotated[str | None, typer.Option(
        help="Database URL or SQLite file (default: demo.db in the user data dir, one per dataset).")] = None,
    fresh: Annotated[bool, typer.Option(help="Start from an empty database.")] = False,
    learners: Annotated[int, typer.Option(help="Simulated learners the model is trained on.")] = 300,
    seed: Annotated[int, typer.Option(help="Seed of the simulator and the model.")] = 0,
    serve: Annotated[bool, typer.Option(help="Serve after setting up (--no-serve: set up, print, exit).")] = True,
) -> None:
    """The whole service on one machine: a SQLite database, the built-in course (or --data), a skill tracker
    and a knowledge-tracing model trained on simulated learners at first start, a class with a teacher, and the dashboard at the printed
    URL with a demo learner's and teacher's key. Serves until interrupted."""
    import socket

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

        with console.status(f"reading {data}…"):
            responses = read_responses(str(data))
    app_ = create_app(Settings(database_url=url))
    with console.status("setting up the demo school (first start: training the learner models)…"):
        keys = setup_demo(app_.state.sessions, data=responses, learners=learners, seed=seed)
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
    models: Annotated[str, typer.Option(help="Models to fit and compare.")] = "irt,bkt,pfa,bestlr,dkt",
) -> None:
    """Simulate a cohort with the built-in simulator, fit the learner models on 80% of the learners and
    print how well each predicts the other 20% (learners it has never seen). (Before the service existed
    this was `metatutor demo`.)"""
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


if __name__ == "__main__":  # pragma: no cover
    app()
