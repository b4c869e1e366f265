from __future__ import annotations

import threading

from metatutor.data.responses import Responses
from metatutor.data.splits import kfold_splits
from metatutor.models import make_model
from metatutor.models.epochs import follow_epochs


def test_followers_hear_every_epoch_of_their_own_thread_only(simulated: Responses) -> None:
    split = kfold_splits(simulated, k=4, random_state=0)[0]
    heard: list[tuple[str, int]] = []
    elsewhere: list[tuple[str, int]] = []
    with follow_epochs(lambda name, epoch, record: heard.append((name, epoch))):
        model = make_model("dkt", max_epochs=3, hidden=16).fit(split.train, split.valid)
        other = threading.Thread(target=lambda: make_model("dkt", max_epochs=2, hidden=16).fit(split.train))
        other.start()
        other.join()
    assert heard == [("DKT", n + 1) for n in range(len(model.history_))]
    with follow_epochs(lambda name, epoch, record: elsewhere.append((name, epoch))):
        pass
    make_model("dkt", max_epochs=1, hidden=16).fit(split.train)  # nobody follows now
    assert elsewhere == [] and len(heard) == len(model.history_)
