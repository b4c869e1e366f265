from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from metatutor.data import DatasetFolder, read_responses
from metatutor.data.readers import detect_format
from metatutor.errors import InvalidResponsesError

LINES4 = "1,u1\n10,10,11\n7,9,7\n1,1,0\n2,u2\n11,12\n7,8\n0,1\n"
LINES3 = "3\n5,6,5,\n1,0,1,\n2\n6,7\n1,1\n"


def write(tmp: Path, name: str, text: str | bytes) -> Path:
    p = tmp / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def test_assistments_csv(tmp_path: Path) -> None:
    p = write(tmp_path, "a.csv", "order_id,user_id,problem_id,skill_id,correct\n3,1,10,7,1\n3,1,10,9,1\n4,1,11,7,0\n"
                                  "5,2,10,7,0\n")
    r = read_responses(p)
    assert (len(r), r.n_learners, r.n_items, r.n_skills) == (3, 2, 2, 2)
    assert r.skills_of(0) == ["7", "9"]


def test_datashop_tsv_with_steps_and_joined_kcs(tmp_path: Path) -> None:
    text = ("Row\tAnon Student Id\tProblem Name\tStep Name\tKC(Default)\tCorrect First Attempt\n"
            "1\ts1\tP1\tA\tk1~~k2\t1\n2\ts1\tP1\tB\tk2\t0\n3\ts2\tP1\tA\tk1~~k2\t1\n")
    r = read_responses(write(tmp_path, "ds.txt", text))
    assert len(r) == 3 and r.n_items == 2 and r.skills_of(0) == ["k1", "k2"]


def test_long_tsv_and_parquet(tmp_path: Path) -> None:
    df = pd.DataFrame({"user_id": [0, 0, 1], "item_id": [5, 6, 5], "timestamp": [0, 0, 0], "correct": [1, 0, 1],
                       "skill_id": [2, 2, 3]})
    df.to_csv(tmp_path / "x.tsv", sep="\t", index=False)
    df.to_parquet(tmp_path / "x.parquet")
    a, b = read_responses(tmp_path / "x.tsv"), read_responses(tmp_path / "x.parquet")
    assert len(a) == len(b) == 3 and a.timestamp is None  # all-zero times mean "no times"


def test_columns_mapping(tmp_path: Path) -> None:
    p = write(tmp_path, "c.csv", "stu,q,ok\n1,a,1\n1,b,0\n")
    with pytest.raises(InvalidResponsesError, match="--columns"):
        read_responses(p)
    r = read_responses(p, columns={"learner": "stu", "item": "q", "correct": "ok"})
    assert len(r) == 2


def test_lines4_merges_expansion(tmp_path: Path) -> None:
    p = write(tmp_path, "d_pid_train1.csv", LINES4)
    assert detect_format(LINES4, name=p.name) == "lines4"
    r = read_responses(p)
    assert len(r) == 4 and r.skills_of(0) == ["7", "9"] and r.n_learners == 2


def test_lines3(tmp_path: Path) -> None:
    r = read_responses(write(tmp_path, "s.csv", LINES3))
    assert detect_format(LINES3) == "lines3"
    assert len(r) == 5 and r.n_learners == 2


def test_pykt(tmp_path: Path) -> None:
    text = 'fold,uid,questions,concepts,responses\n0,7,"1,2,2","5,5_6,5_6","1,0,-1"\n1,8,"3","6","1"\n'
    r = read_responses(write(tmp_path, "train_valid.csv", text))
    assert len(r) == 3 and r.skills_of(1) == ["5", "6"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad3.csv", "3\n1,2,3\n1,0\n", "unequal length"),
        ("bad4_pid.csv", "1,u\n1,2\n3,4\n1,2\n", "0 or 1"),
        ("short.csv", "3\n1,2,3\n", "not a multiple"),
        ("empty.csv", "", "empty"),
        ("enc.csv", b"user_id,problem_id,correct\n\xff\xfe1,2,1\n1,3,0\n", "encoding"),
        ("cols.csv", "a,b,c\nx,y,1\n", "cannot find a column"),
        ("ans.csv", "user_id,problem_id,correct\n1,2,1\n1,3,0.5\n", "rows 3"),
        ("pykt.csv", 'fold,uid,concepts,responses\n0,1,"1,2","1"\n', "unequal length"),
    ],
)
def test_malformed_inputs_raise_named_error(tmp_path: Path, name: str, content: str | bytes, message: str) -> None:
    with pytest.raises(InvalidResponsesError, match=message):
        read_responses(write(tmp_path, name, content))


def test_fold_folder(tmp_path: Path) -> None:
    for k in (1, 2):
        write(tmp_path, f"toy_pid_train{k}.csv", LINES4)
        write(tmp_path, f"toy_pid_valid{k}.csv", "3,u3\n10\n7\n1\n")
        write(tmp_path, f"toy_pid_test{k}.csv", "4,u4\n12,10\n8,7\n1,0\n")
    folder = DatasetFolder(tmp_path)
    assert folder.default_protocol() == "folds" and folder.group().folds == [1, 2]
    split = folder.fold_split(2)
    split.check_disjoint()
    assert split.train.n_learners == 2 and split.valid is not None and split.test.n_learners == 1
    assert split.test.item_ids is split.train.item_ids  # one vocabulary per fold
    assert read_responses(tmp_path).n_learners == 4
