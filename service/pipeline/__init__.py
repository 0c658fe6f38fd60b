"""The analysis of frames: one typed record per face and frame, the face stages, the per-stream analytics."""
