"""Small GRU over a face track's per-frame embeddings, with per-step multi-task heads.

Why: one frame is noisy (blink, blur, half a mouth movement); a recurrent state over the track smooths the
prediction and carries context. "Multi-task learning for emotion recognition in the wild" compares
Transformer, LSTM and GRU temporal encoders for per-frame valence, arousal and expression; a one-layer GRU
is the cheapest of them and, being unidirectional, it is causal — the output at step t depends on steps
≤ t only — so live streams need no look-ahead, and ``state`` lets a stream continue a track chunk by chunk.

Input (N, S, D): e.g. ``EmotionOutput.embedding`` per frame, or ``temporal_pool`` of the spatio-temporal features.
Outputs per step: 7 expression logits, valence/arousal in [−1, 1] (tanh, like ``EmotionNet``) and a
confidence in (0, 1) (sigmoid) meant to down-weight unreliable faces when a timeline aggregates a track
(its training target, e.g. whether the expression prediction is right, is up to the trainer).

Variable lengths: pass right-padded sequences and ``lengths`` (N,). The sequences are packed, so padding
never enters the recurrence and the returned ``state`` is each track's state after its last real step.
Padded steps have zero hidden, a ``mask`` of False and confidence 0; consumers must ignore them.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class TemporalOutput(NamedTuple):
    hidden: torch.Tensor  # (N, S, H) per-step GRU output (top layer)
    logits: torch.Tensor  # (N, S, C) expression logits
    valence_arousal: torch.Tensor  # (N, S, 2) in [-1, 1]
    confidence: torch.Tensor  # (N, S) in (0, 1); 0 at padded steps
    mask: torch.Tensor  # (N, S) bool, True at real steps
    state: torch.Tensor  # (layers, N, H) state after each track's last real step


class TemporalEncoder(nn.Module):
    """(N, S, D) per-frame embeddings -> per-step hidden (N, S, H) and expression / V-A / confidence heads."""

    def __init__(self, input_dim: int = 256, hidden_dim: int = 128, num_classes: int = 7, num_layers: int = 1) -> None:
        super().__init__()
        self.gru = nn.GRU(input_dim, hidden_dim, num_layers=num_layers, batch_first=True)
        self.expression = nn.Linear(hidden_dim, num_classes)
        self.valence_arousal = nn.Linear(hidden_dim, 2)
        self.confidence = nn.Linear(hidden_dim, 1)

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None, state: torch.Tensor | None = None
    ) -> TemporalOutput:
        if x.dim() != 3:
            raise ValueError(f"expected (N, S, D), got {tuple(x.shape)}")
        n, s, _ = x.shape
        if lengths is None:
            hidden, last = self.gru(x, state)
            mask = torch.ones(n, s, dtype=torch.bool, device=x.device)
        else:
            lengths = lengths.to("cpu", torch.int64)
            if lengths.shape != (n,) or int(lengths.min()) < 1 or int(lengths.max()) > s:
                raise ValueError(f"lengths must be (N,) in 1..{s}, got {lengths.tolist()}")
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            packed_out, last = self.gru(packed, state)
            hidden, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=s)
            mask = torch.arange(s)[None, :] < lengths[:, None]
            mask = mask.to(x.device)
        confidence = torch.sigmoid(self.confidence(hidden)).squeeze(-1) * mask
        return TemporalOutput(
            hidden=hidden,
            logits=self.expression(hidden),
            valence_arousal=torch.tanh(self.valence_arousal(hidden)),
            confidence=confidence,
            mask=mask,
            state=last,
        )
