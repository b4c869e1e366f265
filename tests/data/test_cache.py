"""Out-of-core data (issue 31): chunked reading and validation, the on-disk cache read learner by learner,
and the streaming simulator writer. Small generated files; the large run is benchmarks/scale_data.py."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from metatutor.cli import app
from metatutor.data import ResponseCache, holdout_split, read_responses
from metatutor.data.responses import Responses
from metatutor.data.simulator import Simulator
from metatutor.data.stream import ChunkedLog, streamable, validate_file
from metatutor.data.summary import describe, describe_batches
from metatutor.errors import InvalidResponsesError


@pytest.fixture(scope="module")
def log_frame(simulated: Responses) -> pd.DataFrame:
    """The simulated cohort as a log in time order (learners interleave), multi-skill rows expanded
    (one row per skill, as ASSISTments exports do), ids as a user's file would have them."""
    frame = simulated.to_frame().drop(columns="order").sort_values("timestamp", kind="stable")
    frame = frame.assign(skill=frame["skill"].str.split("~~")).explode("skill", ignore_index=True)
    return frame.rename(columns={"learner": "user_id", "item": "problem_id", "skill": "skill_id"})


@pytest.fixture(scope="module")
def logs(log_frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("logs")
    out = {"csv": folder / "log.csv", "semicolon_gz": folder / "log.txt.gz", "parquet": folder / "log.parquet"}
    log_frame.to_csv(out["csv"], index=False)
    out["semicolon_gz"].write_bytes(gzip.compress(log_frame.to_csv(index=False, sep=";").encode()))
    log_frame.to_parquet(out["parquet"], row_group_size=1000)
    return out


@pytest.mark.parametrize("kind", ["csv", "semicolon_gz", "parquet"])
def test_cache_holds_what_the_in_memory_reader_reads(logs: dict[str, Path], tmp_path: Path, kind: str) -> None:
    memory = read_responses(logs[kind])
    cache = ResponseCache.build(logs[kind], tmp_path / "c", batch_rows=700, block_rows=2500)
    assert cache.n_rows == len(pd.read_csv(logs["csv"])) and cache.n_learners == memory.n_learners
    whole = cache.responses()
    assert whole.to_frame().equals(memory.to_frame())  # same rows, order, skills, times, multi-skill merging
    assert whole.merged_rows == memory.merged_rows > 0
    assert list(cache.learner_ids) == list(memory.learners_present())  # learners in order of first appearance


def test_learner_batches_are_whole_learners_sharing_one_vocabulary(logs: dict[str, Path], tmp_path: Path) -> None:
    cache = ResponseCache.build(logs["parquet"], tmp_path / "c", batch_rows=1000)
    batches = list(cache.learner_batches(max_rows=1500))
    assert len(batches) > 5 and sum(b.n_learners for b in batches) == cache.n_learners
    assert all(b.item_ids is cache.item_ids and b.skill_ids is cache.skill_ids for b in batches)
    seen: set[str] = set()
    for b in batches:
        rows = cache.lengths[np.flatnonzero(np.isin(cache.learner_ids, b.learners_present()))].sum()
        assert rows <= 1500 or b.n_learners == 1
        assert not seen & set(b.learners_present())
        seen |= set(b.learners_present())
    assert Responses.concat(batches).to_frame().equals(cache.responses().to_frame())
    assert describe_batches(batches) == describe(cache.responses())


def test_holdout_picks_the_learners_holdout_split_picks(logs: dict[str, Path], tmp_path: Path) -> None:
    cache = ResponseCache.build(logs["csv"], tmp_path / "c")
    memory = read_responses(logs["csv"])
    train, valid = cache.holdout(0.25, random_state=5)
    fit_on, valid_on = holdout_split(memory, valid_fraction=0.25, random_state=5)
    assert valid_on is not None
    assert set(cache.learner_ids[valid]) == set(valid_on.learners_present())
    train_batches = list(cache.learner_batches(max_rows=2000, learners=train))
    assert Responses.concat(train_batches).to_frame().equals(fit_on.to_frame())
    items, skills = cache.answered(train, max_rows=900)
    assert set(cache.item_ids[items]) == set(fit_on.item_ids[np.unique(fit_on.item)])  # the training vocabulary
    assert set(cache.skill_ids[skills]) == set(fit_on.skill_ids[np.unique(fit_on.skill)])
    some = cache.select_learners(valid_on.learners_present()[:3])
    assert some.to_frame().equals(memory.select_learners(valid_on.learners_present()[:3]).to_frame())


def test_cache_is_reused_for_the_same_file_and_rebuilt_when_it_changes(log_frame: pd.DataFrame, tmp_path: Path) -> None:
    src = tmp_path / "log.csv"
    log_frame.to_csv(src, index=False)
    first = ResponseCache.for_file(src, tmp_path / "c")
    stamp = (tmp_path / "c" / "rows.arrow").stat().st_mtime_ns
    assert ResponseCache.for_file(src, tmp_path / "c").n_rows == first.n_rows
    assert (tmp_path / "c" / "rows.arrow").stat().st_mtime_ns == stamp
    log_frame.iloc[:100].to_csv(src, index=False)
    os.utime(src, ns=(stamp + 10**9, stamp + 10**9))
    assert ResponseCache.for_file(src, tmp_path / "c").n_rows == 100
    assert read_responses(tmp_path / "c").n_learners == read_responses(src).n_learners  # a cache folder reads


BAD = ("user_id,problem_id,correct,timestamp\n1,2,1,5\n1,3,2,6\n,3,0,7\n2,4,x,yesterday\n2,5,1,\n"
       + "3,6,1,9\n" * 40 + "3,7,true,10\n3,8,0.0,11\n")


def test_chunked_errors_read_like_the_in_memory_ones(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_text(BAD)
    with pytest.raises(InvalidResponsesError) as memory:
        read_responses(p)
    with pytest.raises(InvalidResponsesError) as chunked:
        validate_file(p, batch_rows=3)
    assert chunked.value.problems == memory.value.problems
    assert "column 'learner' is empty (rows 4)" in str(chunked.value)
    assert "found '2', 'x' (rows 3, 5)" in str(chunked.value) and "found 'yesterday' (rows 5)" in str(chunked.value)


def test_chunked_errors_count_every_row_but_show_a_few(tmp_path: Path) -> None:
    rows = ["user_id,problem_id,correct"] + [f"{i},{i},{2 if i % 7 == 0 else 1}" for i in range(1, 2001)]
    (tmp_path / "many.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(InvalidResponsesError) as info:
        validate_file(tmp_path / "many.csv")
    assert "rows 8, 15, 22, 29, 36, …; 285 in all" in str(info.value)


def test_chunked_ragged_lines_are_named_and_later_rows_keep_their_numbers(tmp_path: Path) -> None:
    p = tmp_path / "ragged.csv"
    p.write_text("user_id,problem_id,correct\n1,2,1\n1,3\n2,3,0\n2,4,1,7\n2,5,9\n" + "x" * 0)
    with pytest.raises(InvalidResponsesError) as info:
        validate_file(p)
    text = str(info.value)
    assert "every line must have 3 fields" in text and "line 3 has 2, line 5 has 4" in text
    assert "found '9' (rows 6)" in text  # line 6 of the file, though two lines before it were skipped


def test_parquet_types_are_validated_too(tmp_path: Path) -> None:
    table = pa.table({"learner": pa.array(["a", "a", None]).dictionary_encode(), "item": [1, 2, 3],
                      "correct": pa.array([True, None, False]), "skill": [["s1", " "], [], None],
                      "timestamp": pa.array([0, 1_000_000, 2_000_000], pa.timestamp("ms"))})
    pq.write_table(table, tmp_path / "typed.parquet")
    with pytest.raises(InvalidResponsesError) as info:
        validate_file(tmp_path / "typed.parquet")
    assert info.value.problems == ["column 'learner' is empty (rows 4)",
                                   "column 'correct' must be 0 or 1, found an empty cell (rows 3)"]
    pq.write_table(table.slice(0, 1), tmp_path / "one.parquet")
    r = ResponseCache.build(tmp_path / "one.parquet", tmp_path / "c").responses()
    assert r.skills_of(0) == ["s1"] and r.timestamp is None  # a blank skill dropped; a single zero time: none


def test_what_cannot_be_streamed_says_so(tmp_path: Path) -> None:
    (tmp_path / "lines.csv").write_text("3\n5,6,5\n1,0,1\n")
    (tmp_path / "log.jsonl").write_text('{"user_id": 1, "problem_id": 2, "correct": 1}\n')
    for name in ("lines.csv", "log.jsonl"):
        assert not streamable(tmp_path / name)
        with pytest.raises(InvalidResponsesError, match="chunked reading takes"):
            ChunkedLog(tmp_path / name)


def test_data_check_streams_with_a_kept_cache(logs: dict[str, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["data", "check", str(logs["semicolon_gz"]), "--stream", "--cache", str(tmp_path / "c"),
                              "--json"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "c" / "rows.arrow").is_file()
    plain = runner.invoke(app, ["data", "check", str(logs["csv"]), "--json"])
    assert plain.exit_code == 0
    streamed, direct = next(iter(_json(res.output).values())), next(iter(_json(plain.output).values()))
    assert streamed == direct
    again = runner.invoke(app, ["data", "check", str(tmp_path / "c"), "--json"])
    assert next(iter(_json(again.output).values())) == direct


def _json(text: str) -> dict[str, dict[str, object]]:
    import json

    return dict(json.loads(text[text.index("{"):]))


def test_simulator_writes_a_reproducible_parquet_log(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.parquet", tmp_path / "b.parquet", tmp_path / "c.parquet"
    n = Simulator(random_state=3).write_parquet(a, 500, (20, 60), batch_learners=200)
    assert Simulator(random_state=3).write_parquet(b, 500, (20, 60), batch_learners=200) == n
    Simulator(random_state=4).write_parquet(c, 500, (20, 60), batch_learners=200)
    ta, tb, tc = (pq.read_table(p) for p in (a, b, c))
    assert ta.equals(tb) and not ta.equals(tc)
    r = read_responses(a)
    assert r.n_learners == 500 and 20 * 500 <= len(r) == n < 60 * 500 and r.timestamp is not None
    assert np.all(np.diff(r.timestamp)[np.diff(r.learner) == 0] > 0)  # each learner's answers in time order
    frame = r.to_frame()
    attempt = frame.groupby(["learner", "skill"]).cumcount()
    first, later = frame["correct"][attempt == 0].mean(), frame["correct"][attempt >= 3].mean()
    assert 0.2 < r.correct.mean() < 0.9 and later > first + 0.05  # practice helps, as in `simulate`
