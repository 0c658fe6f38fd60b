"""PNG renderings of the heatmaps for producers' dashboards; matplotlib is imported only when rendering.

Figures are drawn on an explicit Agg canvas (no pyplot, no global backend switch), so rendering needs no
display, is safe beside other matplotlib users in the process, and gives the same bytes for the same input.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from .heatmaps import SaliencyHeatmap, SpatialHeatmap, TemporalHeatmap
from .observations import POLARITIES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_MAX_KEYFRAME_WIDTH = 960  # the figure is 800 px wide; more pixels only slow the drawing down
_BACKGROUND = "#1e1e1e"  # when there is no keyframe: dark, so the colours read as on a studio monitor
_COLOURS = {
    "positive": (0.18, 0.80, 0.25),
    "negative": (0.90, 0.17, 0.15),
    "neutral": (0.35, 0.60, 0.95),
}
_MAX_ALPHA = 0.85  # the keyframe always shows through


def _clock(seconds: float) -> str:
    """Media time as mm:ss, or h:mm:ss past an hour."""
    whole = max(0, int(round(seconds)))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _png(fig: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", facecolor=fig.get_facecolor(), metadata={"Software": None})
    return buffer.getvalue()


def render_spatial_png(
    heatmap: Mapping[str, Any] | SpatialHeatmap,
    keyframe_rgb: np.ndarray | None = None,
    polarity: str | None = None,
    subject: str | None = None,
) -> bytes:
    """Overlay one polarity's occupancy (or, with ``polarity=None``, positive minus negative) on a keyframe.

    Colour strength encodes the value and fades to fully transparent at zero, so empty screen areas show the
    keyframe untouched: green positive, red negative, blue neutral; the net view runs red - clear - green.
    """
    from matplotlib.colors import LinearSegmentedColormap, Normalize
    from matplotlib.figure import Figure

    data = heatmap.to_dict() if isinstance(heatmap, SpatialHeatmap) else heatmap
    grids = {name: np.asarray(data["polarities"][name], dtype=float) for name in POLARITIES}
    if polarity is None:
        values = grids["positive"] - grids["negative"]
        limit = max(float(np.abs(values).max()), 1e-6)
        norm = Normalize(-limit, limit)
        colours = [(*_COLOURS["negative"], _MAX_ALPHA), (1.0, 1.0, 1.0, 0.0), (*_COLOURS["positive"], _MAX_ALPHA)]
        label, shown = "green: faces here were mostly positive; red: mostly negative", "how faces felt, by place"
    elif polarity in POLARITIES:
        values = grids[polarity]
        norm = Normalize(0.0, max(float(values.max()), 1e-6))
        colours = [(*_COLOURS[polarity], 0.0), (*_COLOURS[polarity], _MAX_ALPHA)]
        label, shown = f"share of frames with a {polarity} face here", f"where {polarity} faces were"
    else:
        raise ValueError(f"polarity must be one of {POLARITIES} or None, got {polarity!r}")
    cmap = LinearSegmentedColormap.from_list(f"overlay_{shown}", colours)

    if keyframe_rgb is not None:
        frame = keyframe_rgb if keyframe_rgb.ndim == 3 else np.stack([keyframe_rgb] * 3, axis=-1)
        if frame.shape[1] > _MAX_KEYFRAME_WIDTH:
            height = round(frame.shape[0] * _MAX_KEYFRAME_WIDTH / frame.shape[1])
            frame = cv2.resize(frame, (_MAX_KEYFRAME_WIDTH, height), interpolation=cv2.INTER_AREA)
        width, height = frame.shape[1], frame.shape[0]
    else:
        frame = None
        width, height = 16 * data["grid_w"], 16 * data["grid_h"]

    fig = Figure(figsize=(8.0, 8.0 * height / width * 0.85 + 1.2), dpi=100, facecolor="white")
    ax = fig.add_subplot()
    ax.set_facecolor(_BACKGROUND)
    extent = (0, width, height, 0)
    if frame is not None:
        ax.imshow(frame, extent=extent)
    image = ax.imshow(values, cmap=cmap, norm=norm, extent=extent, interpolation="bilinear")
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(image, ax=ax, label=label, fraction=0.04, pad=0.02)
    span = ""
    if data.get("window_start") is not None and data.get("window_end") is not None:
        span = f" | {_clock(data['window_start'])}-{_clock(data['window_end'])}"
    who = f"{subject}: " if subject else ""
    ax.set_title(f"{who}{shown}{span} | {data['frames']} frames")
    fig.tight_layout()
    return _png(fig)


def render_temporal_png(temporal: Mapping[str, Any] | TemporalHeatmap, subject: str | None = None) -> bytes:
    """Classes x time bins of mean class probability; bins without faces are grey, not zero-coloured."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    data = temporal.to_dict() if isinstance(temporal, TemporalHeatmap) else temporal
    classes, bins, bin_s = list(data["classes"]), data["bins"], float(data["bin_s"])
    if bins:
        values = np.array([[b["values"][name] for b in bins] for name in classes], dtype=float)
        empty = np.array([[b["face_frames"] == 0 for b in bins]] * len(classes))
        start, end = float(bins[0]["start"]), float(bins[-1]["end"])
    else:
        values, empty = np.zeros((len(classes), 1)), np.ones((len(classes), 1), dtype=bool)
        start, end = 0.0, bin_s
    cmap = colormaps["magma"].with_extremes(bad="#9a9a9a")

    fig = Figure(figsize=(10.0, 4.2), dpi=100, facecolor="white")
    ax = fig.add_subplot()
    image = ax.imshow(
        np.ma.masked_array(values, mask=empty),
        cmap=cmap,
        vmin=0.0,
        vmax=1.0,
        aspect="auto",
        interpolation="nearest",
        extent=(start, end, len(classes) - 0.5, -0.5),
    )
    ax.set_yticks(range(len(classes)), classes)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=8, steps=[1, 1.5, 2, 3, 5, 6, 10]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda seconds, _: _clock(seconds)))
    ax.set_xlabel("media time (mm:ss); grey = no faces")
    fig.colorbar(image, ax=ax, label="mean probability", fraction=0.04, pad=0.02)
    who = (
        f"face track {data['track_id']}"
        if data.get("track_id") is not None
        else "this person's faces"
        if data.get("character_id")
        else "all faces"
    )
    ax.set_title(f"{subject + ': ' if subject else ''}emotion mix over time ({who}, {bin_s:g} s bins)")
    if not bins:
        ax.text((start + end) / 2, (len(classes) - 1) / 2, "no faces yet", ha="center", va="center", color="white")
    fig.tight_layout()
    return _png(fig)


def render_saliency_png(saliency: Mapping[str, Any] | SaliencyHeatmap, subject: str | None = None) -> bytes:
    """The mean saliency mask on the template face (the average aligned face: its outline and landmarks)."""
    from matplotlib.figure import Figure

    from models.face_regions import FER_TEMPLATE, TEMPLATE_BOX

    data = saliency.to_dict() if isinstance(saliency, SaliencyHeatmap) else saliency
    size = 240
    mean = np.asarray(data["mean"], dtype=float) if data.get("mean") else np.zeros((12, 12))
    image = cv2.resize(mean, (size, size), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    fig = Figure(figsize=(5.2, 4.6), dpi=100, facecolor="white")
    ax = fig.add_subplot()
    shown = ax.imshow(image, cmap="magma", vmin=0.0, vmax=1.0, extent=(0, 1, 1, 0))
    x1, y1, x2, y2 = TEMPLATE_BOX
    from matplotlib.patches import Ellipse

    ax.add_patch(Ellipse(((x1 + x2) / 2, (y1 + y2) / 2), x2 - x1, y2 - y1, fill=False, color="white", ls="--", lw=1))
    ax.scatter(FER_TEMPLATE[:, 0], FER_TEMPLATE[:, 1], s=18, c="white", marker="x", linewidths=1)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.03, label="how much the model sees face there (0–1)")
    who = f"face track {data['track_id']}" if data.get("track_id") is not None else "all faces"
    title = f"where the model sees the face ({who}, {data['faces']} scored face-frames)"
    ax.set_title(f"{subject}: {title}" if subject else title, fontsize=9)
    ax.set_xlabel(
        "bright: face the model reads; dark inside the dashed outline: covered or ignored;\n"
        f"x: eyes, nose, mouth corners of the average aligned face; covered in {data['occluded_share']:.0%} of them",
        fontsize=7,
    )
    if not data["faces"]:
        ax.text(0.5, 0.5, "no scored faces yet", ha="center", va="center", color="white", transform=ax.transAxes)
    fig.tight_layout()
    return _png(fig)
