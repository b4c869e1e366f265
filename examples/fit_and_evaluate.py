"""Fit learner models on your own response log and score them on learners they never saw.

"Your log" here is a CSV that this script writes from the built-in simulator, under column names of its
own (student, question, topic, answered_right, answered_at), the way a learning platform's export looks.
To run it on your data, point LOG at your file and COLUMNS at your column names.

    python examples/fit_and_evaluate.py

The same from the command line:

    metatutor data check log.csv --columns learner=student,item=question,skill=topic,correct=answered_right
    metatutor train log.csv --columns ... --out models/kt --model dkt
    metatutor predict models/kt other_learners.csv --columns ... --out p.csv
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from metatutor.data import kfold_splits, read_responses
from metatutor.data.simulator import Simulator
from metatutor.evaluation.metrics import score
from metatutor.models import load_model, make_model
from metatutor.models.base import LearnerModel

# your column name for each of metatutor's fields (only learner, item and correct are required)
COLUMNS = {"learner": "student", "item": "question", "skill": "topic", "correct": "answered_right",
           "timestamp": "answered_at"}


def write_log(path: Path, learners: int = 400, seed: int = 0) -> Path:
    """A response log of simulated learners, saved as a platform export would be."""
    frame = Simulator(random_state=seed).simulate(learners, (30, 80)).to_frame()
    frame = frame.drop(columns="order").rename(columns={field: column for field, column in COLUMNS.items()})
    frame.to_csv(path, index=False)
    return path


def main() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        log = write_log(Path(tmp) / "log.csv")
        responses = read_responses(log, columns=COLUMNS)
        print(f"{log.name}: {len(responses)} responses of {responses.n_learners} learners on "
              f"{responses.n_items} items and {responses.n_skills} skills")

        # learners, not responses, are split: the test learners are never seen in training; the
        # validation learners early-stop the neural model (and are where any choice would be made)
        split = kfold_splits(responses, k=5, random_state=0)[0]
        train, valid, test = split.train, split.valid, split.test
        assert valid is not None  # kfold_splits holds out a fifth of each training part to validate
        print(f"train {train.n_learners}, validation {valid.n_learners}, test {test.n_learners} learners")

        models: dict[str, LearnerModel] = {}
        valid_auc: dict[str, float] = {}
        test_auc: dict[str, float] = {}
        for name in ("irt", "bkt", "dkt"):
            model = make_model(name, random_state=0, max_epochs=10).fit(train, valid)
            models[name] = model
            valid_auc[name] = score(valid.correct, model.predict_proba(valid))["auc"]
            # P(correct) of each test response from the learner's earlier responses only
            s = score(test.correct, model.predict_proba(test))
            test_auc[name] = s["auc"]
            print(f"{name:>4}: test AUC {s['auc']:.4f}  accuracy {s['acc']:.4f}  RMSE {s['rmse']:.4f}  "
                  f"(validation AUC {valid_auc[name]:.4f})")

        # the model to keep is chosen on the validation learners (they also early-stopped DKT, which
        # flatters it a little); the test learners choose nothing
        best = max(valid_auc, key=lambda name: valid_auc[name])
        model = models[best]
        folder = Path(tmp) / "model"
        model.save(folder)
        again = load_model(str(folder))
        assert np.allclose(again.predict_proba(test), model.predict_proba(test), atol=1e-6)
        mastery = again.mastery(test)  # learners x skills, after all their responses
        print(f"kept {best} (best on validation learners), saved to and reloaded from {folder.name}/; "
              f"mastery table {mastery.shape[0]} learners x {mastery.shape[1]} skills")
        return test_auc


if __name__ == "__main__":
    main()
