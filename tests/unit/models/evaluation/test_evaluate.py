"""Held-out scoring: one network or the average of several (``evaluate --model A B``)."""

import contextlib
import io
import json

import numpy as np
import pytest

from models.evaluation.evaluate import ensemble_probs, evaluate, main, predict_probs
from models.weights import save_weights, write_manifest_entry


def test_an_ensemble_of_one_is_that_network(nets, faces) -> None:
    assert np.allclose(ensemble_probs(nets[:1], faces), predict_probs(nets[0], faces))
    with pytest.raises(ValueError, match="at least one"):
        ensemble_probs([], faces)
    with pytest.raises(ValueError, match="temperature"):
        predict_probs(nets[0], faces, temperature=0.0)


def test_an_ensemble_averages_its_members(nets, faces) -> None:
    expected = (predict_probs(nets[0], faces) + predict_probs(nets[1], faces)) / 2
    assert np.allclose(ensemble_probs(nets, faces), expected)


def test_cli_scores_the_average_of_the_named_models(tmp_path, tiny_fer, nets) -> None:
    for name, net in zip(("a", "b"), nets, strict=True):
        write_manifest_entry(
            tmp_path, name, {"file": f"{name}.pt", "sha256": save_weights(net, tmp_path / f"{name}.pt")}
        )
    report = io.StringIO()
    with contextlib.redirect_stdout(report):
        main(["--data", str(tiny_fer), "--weights-dir", str(tmp_path), "--model", "a", "b", "--json"])
    printed = json.loads(report.getvalue())
    assert printed == json.loads(json.dumps(evaluate(nets, tiny_fer, "PublicTest", flip_tta=True)))
    assert printed["original"]["count"] == 14 and "ferplus_majority" not in printed
