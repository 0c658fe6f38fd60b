"""Classification and stability metrics by hand."""

import numpy as np
import pytest

from models.evaluation.metrics import flip_rate, summarize


def test_metrics_by_hand():
    report = summarize(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), 2)
    assert report["accuracy"] == 0.75
    assert report["recall"] == [0.5, 1.0]
    assert report["confusion"] == [[1, 1], [0, 2]]
    assert report["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert flip_rate(["a", "a", "b", "b", "a"]) == 0.5
    assert flip_rate(["a"]) == 0.0
