from __future__ import annotations

import numpy as np
import pytest

from metatutor.models.attention import windows


@pytest.mark.parametrize("window", [4, 5, 200])
def test_windows_score_every_position_once_with_half_a_window_of_context(window: int) -> None:
    lengths = np.array([1, 3, 4, 9, 17, 450])
    wins = windows(lengths, window)
    for learner, n in enumerate(lengths):
        scored: list[int] = []
        for _, start, end, score_from in wins[wins[:, 0] == learner]:
            assert end - start <= window and end <= n
            positions = list(range(start + score_from, end))
            assert start == 0 or score_from >= window // 2  # scored with at least half a window behind
            scored += positions
        assert sorted(scored) == list(range(n))
