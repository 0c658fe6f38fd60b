"""Pure, deterministic stream analytics: sliding-window stats, verified alerts and heatmaps.

Everything runs on media time supplied by the caller (no clocks, threads or I/O), so replaying a file
reproduces the same numbers.
"""

from .alerts import (
    CHECKS,
    DEFAULT_RULE,
    DEFAULT_RULES,
    OPS,
    REASONS,
    AlertEngine,
    AlertEvent,
    AlertRule,
    CharacterTracks,
    Check,
    Verification,
    unique_rule_names,
)
from .heatmaps import SaliencyHeatmap, SpatialHeatmap, TemporalHeatmap
from .label_hold import LabelHold
from .observations import CLASSES, POLARITIES, FaceObservation, FrameObservation
from .plain import plain
from .render import render_saliency_png, render_spatial_png, render_temporal_png
from .windows import METRICS, SlidingWindow, WindowStats

__all__ = [
    "CHECKS",
    "CLASSES",
    "DEFAULT_RULE",
    "DEFAULT_RULES",
    "METRICS",
    "OPS",
    "POLARITIES",
    "REASONS",
    "AlertEngine",
    "AlertEvent",
    "AlertRule",
    "CharacterTracks",
    "Check",
    "FaceObservation",
    "FrameObservation",
    "LabelHold",
    "SaliencyHeatmap",
    "SlidingWindow",
    "SpatialHeatmap",
    "TemporalHeatmap",
    "Verification",
    "WindowStats",
    "plain",
    "render_saliency_png",
    "render_spatial_png",
    "render_temporal_png",
    "unique_rule_names",
]
