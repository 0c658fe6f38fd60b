"""Valence/arousal of the classes: the expectation under the class distribution."""

import torch

from models.data.circumplex import CIRCUMPLEX, expected_valence_arousal
from models.labels import FER_CLASSES


def test_expected_valence_arousal_is_the_circumplex_mean():
    probs = torch.zeros(1, 7)
    probs[0, FER_CLASSES.index("happy")] = 0.5
    probs[0, FER_CLASSES.index("sad")] = 0.5
    expected = (torch.tensor(CIRCUMPLEX["happy"]) + torch.tensor(CIRCUMPLEX["sad"])) / 2
    torch.testing.assert_close(expected_valence_arousal(probs)[0], expected)


def test_every_class_has_a_place():
    assert set(CIRCUMPLEX) == set(FER_CLASSES)
