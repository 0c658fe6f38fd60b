"""The temporal head over cached D′4 windows, window padding, and its checkpoint kind."""

from __future__ import annotations

import pytest
import torch

from models.nets.temporal_head import TemporalEmotionHead, TemporalHeadConfig, pad_window
from models.weights import WeightsError, load_model, save_weights, sha256_of, write_manifest_entry


def test_pad_window_repeats_the_oldest_frame_and_keeps_the_newest() -> None:
    frames = torch.arange(3.0)[:, None]  # oldest 0, newest 2
    assert pad_window(frames, 5).flatten().tolist() == [0, 0, 0, 1, 2]
    assert pad_window(torch.arange(8.0)[:, None], 5).flatten().tolist() == [3, 4, 5, 6, 7]
    with pytest.raises(ValueError):
        pad_window(torch.zeros(0, 1), 4)


def test_head_outputs_per_step_and_newest_distributions() -> None:
    torch.manual_seed(0)
    head = TemporalEmotionHead(TemporalHeadConfig(window=6, key_channels=16, hidden=32)).eval()
    features = torch.randn(3, 6, 256, 3, 3)
    out = head(features)
    assert out.logits.shape == (3, 6, 7) and out.valence_arousal.shape == (3, 6, 2)
    probs, va, confidence = head.newest(features)
    assert torch.allclose(probs.sum(-1), torch.ones(3), atol=1e-6)
    assert torch.allclose(probs, out.logits[:, -1].softmax(-1))
    assert va.abs().max() <= 1 and ((confidence > 0) & (confidence < 1)).all()


def test_head_is_order_sensitive_over_time() -> None:
    """The GRU reads the window in time order: reversing it changes the newest step's output."""
    torch.manual_seed(1)
    head = TemporalEmotionHead(TemporalHeadConfig(window=5, key_channels=16, hidden=32)).eval()
    features = torch.randn(1, 5, 256, 3, 3)
    assert not torch.allclose(head(features).logits[:, -1], head(features.flip(1)).logits[:, -1])


def test_checkpoint_round_trip_and_kind_check(tmp_path) -> None:
    head = TemporalEmotionHead(TemporalHeadConfig(window=4, key_channels=16, hidden=32))
    save_weights(head, tmp_path / "t.pt")
    write_manifest_entry(tmp_path, "temporal", {"file": "t.pt", "sha256": sha256_of(tmp_path / "t.pt")})
    loaded, _ = load_model(tmp_path, "temporal", kind="temporal_head")
    assert isinstance(loaded, TemporalEmotionHead) and loaded.config.window == 4
    features = torch.randn(2, 4, 256, 3, 3)
    assert torch.allclose(loaded(features).logits, head.eval()(features).logits)
    with pytest.raises(WeightsError, match="holds a temporal_head, not a emotion_net"):
        load_model(tmp_path, "temporal")
