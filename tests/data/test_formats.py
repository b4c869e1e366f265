"""Input formats a new user brings (issue 30): delimiters, compression, JSON, workbooks, and errors that
name the lines and what was expected, in one short paragraph."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metatutor.data import DatasetFolder, read_responses
from metatutor.data.delimited import parse_delimiter, sniff_delimiter
from metatutor.data.responses import Responses
from metatutor.data.summary import item_coverage
from metatutor.errors import ConfigError, InvalidResponsesError

ROWS = [("u1", "q1", "s1", 1), ("u1", "q2", "s2", 0), ("u2", "q1", "s1", 0), ("u2", "q3", "s1", 1)]


def table(sep: str) -> str:
    lines = [sep.join(("user_id", "problem_id", "skill_id", "correct"))]
    lines += [sep.join(map(str, r)) for r in ROWS]
    return "\n".join(lines) + "\n"


def check(r: Responses) -> None:
    assert (len(r), r.n_learners, r.n_items) == (4, 2, 3)
    assert list(r.correct) == [1, 0, 0, 1] and r.skills_of(1) == ["s2"]


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(tmp_path: Path, sep: str) -> None:
    p = tmp_path / "log.csv"
    p.write_text(table(sep))
    assert sniff_delimiter(table(sep)) == sep
    check(read_responses(p))


def test_sniffing_respects_quotes_and_other_punctuation() -> None:
    text = 'user;item;skill;correct\n1;q1;"Addition, whole numbers";1\n1;q2;a,b;0\n'
    assert sniff_delimiter(text) == ";"
    text = 'user,item,skill,correct\n1,q1,"a;b|c",1\n1,q2,"x;y",0\n'
    assert sniff_delimiter(text) == ","


def test_given_delimiter_overrides_and_bad_one_says_so(tmp_path: Path) -> None:
    p = tmp_path / "log.txt"
    p.write_text(table(";"))
    check(read_responses(p, delimiter=";"))
    with pytest.raises(InvalidResponsesError, match="--delimiter"):
        read_responses(p, delimiter=",")  # the header is one column then: the message says what to do
    assert parse_delimiter("tab") == "\t" and parse_delimiter(";") == ";" and parse_delimiter(None) is None
    with pytest.raises(ConfigError, match="one character"):
        parse_delimiter(";;")


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz", "zip"])
def test_compressed_files_read_transparently(tmp_path: Path, kind: str) -> None:
    data = table(";").encode()
    p = tmp_path / f"log.csv.{kind}"
    if kind == "gz":
        p.write_bytes(gzip.compress(data))
    elif kind == "bz2":
        p.write_bytes(bz2.compress(data))
    elif kind == "xz":
        p.write_bytes(lzma.compress(data))
    else:
        with zipfile.ZipFile(p, "w") as z:
            z.writestr("export/log.csv", data)
    check(read_responses(p))


def test_compression_is_told_by_content_not_name(tmp_path: Path) -> None:
    p = tmp_path / "log.csv"  # gzip bytes without .gz: the old reader said "not UTF-8, pass --encoding"
    p.write_bytes(gzip.compress(table(",").encode()))
    check(read_responses(p))


def test_zip_with_several_files_is_refused_by_name(tmp_path: Path) -> None:
    p = tmp_path / "two.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("a.csv", table(","))
        z.writestr("b.csv", table(","))
    with pytest.raises(InvalidResponsesError, match=r"exactly one response file; this one holds 2 \(a.csv, b.csv\)"):
        read_responses(p)


def test_compressed_line_format_and_fold_folder(tmp_path: Path) -> None:
    lines4 = "1,u1\n10,10,11\n7,9,7\n1,1,0\n2,u2\n11,12\n7,8\n0,1\n"
    (tmp_path / "toy_pid_train1.csv.gz").write_bytes(gzip.compress(lines4.encode()))
    (tmp_path / "toy_pid_valid1.csv").write_text("3,u3\n10\n7\n1\n")
    (tmp_path / "toy_pid_test1.csv.gz").write_bytes(gzip.compress(b"4,u4\n12,10\n8,7\n1,0\n"))
    folder = DatasetFolder(tmp_path)
    assert folder.group().folds == [1]
    split = folder.fold_split(1)
    assert split.train.n_learners == 2 and len(split.train) == 4 and split.test.n_learners == 1


def test_json_lines_and_json_arrays(tmp_path: Path) -> None:
    records = [{"user_id": u, "problem_id": q, "skill_id": s, "correct": bool(c)} for u, q, s, c in ROWS]
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    (tmp_path / "b.json").write_text(json.dumps(records, indent=2))
    (tmp_path / "c.json").write_text(json.dumps({"responses": records}))
    (tmp_path / "d.json").write_text(json.dumps({k: [r[k] for r in records] for k in records[0]}))  # columns
    for name in ("a.jsonl", "b.json", "c.json", "d.json"):
        check(read_responses(tmp_path / name))
    nested = [{"user": {"id": u}, "item": q, "correct": c} for u, q, _, c in ROWS]
    (tmp_path / "e.json").write_text(json.dumps(nested))
    assert read_responses(tmp_path / "e.json", columns={"learner": "user.id"}).n_learners == 2


def test_bad_json_names_the_line_and_never_prints_it(tmp_path: Path) -> None:
    long_value = "q" * 5000
    good = json.dumps({"user_id": 1, "problem_id": long_value, "correct": 1})
    p = tmp_path / "bad.jsonl"
    p.write_text(f"{good}\n{good[:-1]}\n{good}\n[1, 2]\n")
    with pytest.raises(InvalidResponsesError) as info:
        read_responses(p)
    text = str(info.value)
    assert "lines 2, 4" in text and "one JSON object per line" in text and len(text) < 300
    q = tmp_path / "bad.json"
    q.write_text("[\n" + good + ",\n" + good + " oops\n]")
    with pytest.raises(InvalidResponsesError) as info:
        read_responses(q)
    text = str(info.value)
    assert "line 3" in text and "array of objects" in text and len(text) < 300
    r = tmp_path / "cols.json"
    r.write_text(json.dumps([{"who": 1, "what": long_value, "ok": 1}]))
    with pytest.raises(InvalidResponsesError, match="cannot find a column") as info:
        read_responses(r)
    assert len(str(info.value)) < 300


def test_ragged_rows_are_named_not_found_nan(tmp_path: Path) -> None:
    p = tmp_path / "ragged.csv"
    p.write_text("user_id,problem_id,correct\n1,2,1\n1,3\n2,3,0\n2,4,1,7\n3,4,1,\n")
    with pytest.raises(InvalidResponsesError) as info:
        read_responses(p)
    text = str(info.value)
    assert "every line must have 3 fields" in text and "line 3 has 2, line 5 has 4" in text
    assert "nan" not in text and "line 6" not in text  # an empty trailing field is not a difference


def test_empty_answer_cell_is_named_as_such(tmp_path: Path) -> None:
    p = tmp_path / "empty.csv"
    p.write_text("user_id,problem_id,correct\n1,2,1\n1,3,\n")
    with pytest.raises(InvalidResponsesError, match=r"found an empty cell \(rows 3\)"):
        read_responses(p)


def test_long_values_are_cut_short_in_messages(tmp_path: Path) -> None:
    p = tmp_path / "long.csv"
    p.write_text("user_id,problem_id,correct\n1,2," + "x" * 10_000 + "\n")
    with pytest.raises(InvalidResponsesError) as info:
        read_responses(p)
    assert "rows 2" in str(info.value) and len(str(info.value)) < 200


def test_binary_file_is_not_called_an_encoding_problem(tmp_path: Path) -> None:
    p = tmp_path / "blob.csv"
    p.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(InvalidResponsesError, match="not a text file") as info:
        read_responses(p)
    assert "--encoding" not in str(info.value)


def test_xlsx_without_openpyxl_says_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "log.xlsx"
    with zipfile.ZipFile(p, "w") as z:  # enough of a workbook to be told apart from a zip of a CSV
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "openpyxl" else real(name, *a))
    with pytest.raises(InvalidResponsesError, match="pip install openpyxl"):
        read_responses(p)


def test_xlsx_is_read_with_openpyxl(tmp_path: Path) -> None:
    pytest.importorskip("openpyxl")
    frame = pd.DataFrame(ROWS, columns=["user_id", "problem_id", "skill_id", "correct"])
    frame.to_excel(tmp_path / "log.xlsx", index=False)
    check(read_responses(tmp_path / "log.xlsx"))


def test_learner_prefix_makes_another_namespace() -> None:
    r = Responses.from_frame(pd.DataFrame(ROWS, columns=["learner", "item", "skill", "correct"]))
    new = r.with_learner_prefix("b:")
    assert list(new.learners_present()) == ["b:u1", "b:u2"] and list(r.learners_present()) == ["u1", "u2"]
    assert np.array_equal(new.item, r.item) and new.item_ids is r.item_ids and len(new) == len(r)
    both = Responses.concat([r, new])
    assert both.n_learners == 4  # the same ids, prefixed, are other learners


def test_item_coverage_counts_items_a_vocabulary_lacks() -> None:
    r = Responses.from_frame(pd.DataFrame(ROWS, columns=["learner", "item", "skill", "correct"]))
    cov = item_coverage(r, ["q1", "q9"])
    assert (cov.items, cov.unseen_items, cov.responses, cov.unseen_responses) == (3, 2, 4, 2)
    assert set(cov.examples) == {"q2", "q3"} and cov.unseen_fraction == pytest.approx(2 / 3)
    assert item_coverage(r.select_learners(["u2"]), ["q1", "q2", "q3"]).unseen_items == 0
