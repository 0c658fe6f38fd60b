"""The networks the service runs: the per-face ``EmotionNet`` and the per-track ``TemporalEmotionHead``,
with the layers they are built from (and the saliency decoder that trains the backbone)."""
