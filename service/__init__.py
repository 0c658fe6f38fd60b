"""Stream emotion service: live video in, per-face emotion timelines, window stats and alerts out."""
