"""GRU temporal encoder: shapes, causality, confidence range, variable lengths, streaming state."""

import pytest
import torch

from models.nets.temporal_encoder import TemporalEncoder

N, S, D, H = 3, 6, 8, 5


@pytest.fixture
def encoder():
    torch.manual_seed(0)
    return TemporalEncoder(input_dim=D, hidden_dim=H).eval()


def test_shapes_and_ranges(encoder):
    out = encoder(torch.randn(N, S, D))
    assert out.hidden.shape == (N, S, H)
    assert out.logits.shape == (N, S, 7)
    assert out.valence_arousal.shape == (N, S, 2)
    assert out.confidence.shape == out.mask.shape == (N, S)
    assert out.state.shape == (1, N, H)
    assert (out.valence_arousal.abs() <= 1).all()
    assert ((out.confidence > 0) & (out.confidence < 1)).all()
    assert out.mask.all()


def test_changing_a_future_step_leaves_earlier_outputs_unchanged(encoder):
    x = torch.randn(N, S, D)
    changed = x.clone()
    changed[:, 4] += 3.0
    a, b = encoder(x), encoder(changed)
    for name in ("hidden", "logits", "valence_arousal", "confidence"):
        torch.testing.assert_close(getattr(a, name)[:, :4], getattr(b, name)[:, :4])
        assert not torch.allclose(getattr(a, name)[:, 4], getattr(b, name)[:, 4])


def test_padded_tracks_match_running_each_track_alone(encoder):
    x = torch.randn(N, S, D)
    lengths = torch.tensor([6, 2, 4])
    padded = x.clone()
    for i, length in enumerate(lengths):
        padded[i, length:] = 99.0  # garbage in the padding must not matter
    out = encoder(padded, lengths)
    for i, length in enumerate(lengths.tolist()):
        alone = encoder(x[i : i + 1, :length])
        torch.testing.assert_close(out.hidden[i, :length], alone.hidden[0])
        torch.testing.assert_close(out.state[:, i], alone.state[:, 0])
        assert out.mask[i, :length].all() and not out.mask[i, length:].any()
        assert (out.hidden[i, length:] == 0).all() and (out.confidence[i, length:] == 0).all()
    with pytest.raises(ValueError):
        encoder(x, torch.tensor([0, 1, 2]))


def test_state_continues_a_stream_chunk_by_chunk(encoder):
    x = torch.randn(N, S, D)
    whole = encoder(x)
    first = encoder(x[:, :2])
    second = encoder(x[:, 2:], state=first.state)
    torch.testing.assert_close(torch.cat([first.hidden, second.hidden], dim=1), whole.hidden)
