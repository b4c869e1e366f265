"""Long loops pause for the other requests; background work gives way while requests are served; a switch
made here is served without reading the model back, and one seen by many requests is built once."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import pytest

from metatutor.service import pacing
from metatutor.service.versions import ActiveVersionCache


class _Clock:
    """perf_counter and sleep for `pace`: time moves by `step` per read and by what is slept."""

    def __init__(self, step: float) -> None:
        self.now, self.step, self.slept = 100.0, step, []

    def perf_counter(self) -> float:
        self.now += self.step
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def _loop(clock: _Clock, monkeypatch: pytest.MonkeyPatch, n: int, *, background: bool = False,
          serving: bool = False) -> list[float]:
    monkeypatch.setattr(pacing.time, "perf_counter", clock.perf_counter)
    monkeypatch.setattr(pacing.time, "sleep", clock.sleep)
    out: list[float] = []

    def run() -> None:  # pace never sleeps on the main thread (the event loop's)
        pacing._turns.last = None
        with pacing.background() if background else contextlib.nullcontext():
            for _ in range(n):
                pacing.pace()
        out.extend(clock.slept)

    with pacing.serving() if serving else contextlib.nullcontext():
        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
    return out


def test_a_request_loop_pauses_a_third_of_the_time(monkeypatch: pytest.MonkeyPatch) -> None:
    slept = _loop(_Clock(0.0005), monkeypatch, 400)  # 0.2 s of work
    assert slept and set(slept) == {pacing.FOR_S}
    work = 400 * 0.0005
    assert 0.25 < sum(slept) / work < 0.75  # one FOR_S per EVERY_S of work


def test_calls_far_apart_are_separate_loops_and_never_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    # a pool thread serving one-answer requests: one call per request, the requests 30 ms apart
    slept = _loop(_Clock(pacing.NEW_LOOP_S * 1.5), monkeypatch, 50)
    assert slept == []


def test_background_work_gives_way_while_requests_are_served(monkeypatch: pytest.MonkeyPatch) -> None:
    idle = _loop(_Clock(0.0005), monkeypatch, 400, background=True)
    busy = _loop(_Clock(0.0005), monkeypatch, 400, background=True, serving=True)
    assert set(idle) == {pacing.FOR_S} and set(busy) == {pacing.BACKGROUND_FOR_S}
    assert sum(busy) > 4 * sum(idle)  # it leaves most of the interpreter to the requests
    assert pacing._serving[0] == 0  # serving() counts down when the request ends


def test_a_request_is_not_slowed_by_the_background_flag_of_another_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    slept = _loop(_Clock(0.0005), monkeypatch, 400, serving=True)
    assert set(slept) == {pacing.FOR_S}


def test_a_put_model_is_served_without_a_build() -> None:
    builds: list[int] = []

    def build(_session: Any, version: int) -> str:
        builds.append(version)
        return f"model {version}"

    cache: ActiveVersionCache[str] = ActiveVersionCache("tracker", build, lambda: LookupError("none"), ttl=60)
    cache.put(7, "built here")
    assert cache.get(session=None) == (7, "built here")  # type: ignore[arg-type]
    assert builds == []


class _Session:
    """`scalar` answers the active version; nothing else is read."""

    def __init__(self, version: int) -> None:
        self.version = version

    def scalar(self, _query: Any) -> int:
        return self.version


def test_a_switch_seen_by_many_requests_at_once_is_built_once() -> None:
    builds: list[int] = []

    def build(_session: Any, version: int) -> str:
        builds.append(version)
        time.sleep(0.05)  # long enough for every thread to see the switch before the build ends
        return f"model {version}"

    cache: ActiveVersionCache[str] = ActiveVersionCache("tracker", build, lambda: LookupError("none"), ttl=0)
    got: list[tuple[int, str]] = []
    threads = [threading.Thread(target=lambda: got.append(cache.get(_Session(3)))) for _ in range(8)]  # type: ignore[arg-type]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert builds == [3]
    assert got == [(3, "model 3")] * 8
