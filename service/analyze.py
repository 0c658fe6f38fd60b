"""``python -m service analyze FILE [--out DIR]``: a recorded programme through the live pipeline, offline.

The same models, cuts, tracks, characters, windows and alert rules as a live stream, read as fast as the
machine allows. Writes into DIR (default: ``<FILE>-analysis`` beside the file):

- ``events.jsonl``: every message, as the live feed would carry it (characters, faces, frames, stats, alerts);
- ``windows.csv``: each character's 60-s window statistics at every stats tick;
- ``summary.json``: characters (screen time, first and last seen, shares), alerts, counts, speed;
- ``report.html``: one self-contained page (plots embedded as PNG): a timeline per character, polarity
  shares, heatmaps, alerts.

Progress goes to stderr (media time, frames/s, ETA). Ctrl-C stops at the current frame and still writes
everything analysed so far, marked ``"partial": true``. Characters are discovered in the file (``person N``);
``--enrol NAME=IMAGE`` (repeatable; several images of one name make one person) names known people from
stills, checked like an upload to ``POST /characters``. The gallery of a running service is not consulted:
an offline run needs no Redis.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np

from service import wire
from service.analytics import DEFAULT_RULES, SpatialHeatmap, TemporalHeatmap, render_spatial_png, render_temporal_png
from service.config import Settings
from service.identity.characters import GalleryEntry, new_character_id
from service.ingest.source import VideoSource, source_options
from service.ingest.urls import SourcePolicy, parse_source
from service.pipeline.analysis import analyse, new_stream_state
from service.pipeline.faces import FacePipeline
from service.runtime import build_pipeline
from service.worker.enrolment import embed_images

WINDOW_FIELDS = ("character_id", "character", "pts", "window_start", "window_end", "face_frames", "positive",
                 "negative", "neutral", "dominant", "mean_valence", "mean_arousal", "occluded_share")  # fmt: skip


def _clock(seconds: float) -> str:
    minutes, rest = divmod(int(max(seconds, 0)), 60)
    return f"{minutes // 60:d}:{minutes % 60:02d}:{rest:02d}"


def _duration(path: str) -> float | None:
    with av.open(path) as container:
        return container.duration / av.time_base if container.duration else None


def analyze_file(
    settings: Settings, clip: str, out: str | None, fps: float | None, enrol: Sequence[tuple[str, str]] = ()
) -> dict[str, Any]:
    spec = parse_source(clip, SourcePolicy.operator())  # a bad path fails before any model loads
    stills = _read_stills(enrol)
    fps = fps or settings.default_analysis_fps
    duration = _duration(spec.url)
    pipeline = build_pipeline(settings)
    state = new_stream_state(settings, pipeline, "offline", DEFAULT_RULES)
    if stills:
        state.faces.identity.book.set_gallery(_gallery(pipeline, stills))
    target = Path(out) if out else Path(spec.url).with_name(Path(spec.url).stem + "-analysis")
    target.mkdir(parents=True, exist_ok=True)
    source = VideoSource(spec, source_options(settings, fps), threading.Event())
    messages: list[dict[str, Any]] = []
    keyframe: np.ndarray | None = None
    frames, partial, began, shown = 0, False, time.monotonic(), 0.0
    with (target / "events.jsonl").open("w") as events:
        try:
            for frame in source.frames():
                output = analyse(pipeline, [(state, frame)])[0]
                for message in output.messages:
                    events.write(message.body + "\n")
                    messages.append(json.loads(message.body))
                frames += 1
                if frames == 1 or frame.index % 50 == 0:
                    keyframe = frame.image
                if time.monotonic() - shown >= 1.0:
                    shown = time.monotonic()
                    _progress(frame.pts, duration, frames, shown - began)
            for message in state.analytics.final().messages:
                events.write(message.body + "\n")
                messages.append(json.loads(message.body))
        except KeyboardInterrupt:
            partial = True
    elapsed = time.monotonic() - began
    print(file=sys.stderr)
    summary = _summary(spec.url, messages, state, fps, frames, elapsed, duration, partial)
    (target / "summary.json").write_text(json.dumps(summary, indent=2))
    _write_windows(target / "windows.csv", messages)
    (target / "report.html").write_text(_report(summary, messages, keyframe))
    word = "stopped early; partial results" if partial else "done"
    print(f"{word}: {frames} frames in {elapsed:.1f} s ({summary['frames_per_s']} frames/s) -> {target}/")
    return summary


def _read_stills(enrol: Sequence[tuple[str, str]]) -> dict[str, list[tuple[str, bytes]]]:
    """Name -> (path, bytes) of each enrolment still; an unreadable one stops the run before any model loads."""
    stills: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
    for name, path in enrol:
        try:
            stills[name].append((path, Path(path).read_bytes()))
        except OSError as exc:
            raise SystemExit(f"error: --enrol {name}={path}: {exc.strerror or exc}") from None
    return dict(stills)


def _gallery(pipeline: FacePipeline, stills: dict[str, list[tuple[str, bytes]]]) -> list[GalleryEntry]:
    """One named character per name, embedded by the run's own detector, gate and descriptor."""
    if pipeline.identity is None:
        raise SystemExit("error: --enrol needs identity on (EMOTION_IDENTITY=true)")
    entries = []
    for name, files in stills.items():
        found = embed_images([raw for _, raw in files], pipeline.detector, pipeline.identity.embedder,
                             pipeline.identity.gate)  # fmt: skip
        for (path, _), result in zip(files, found, strict=True):
            if "reason" in result:
                raise SystemExit(f"error: --enrol {name}={path}: {result['reason']}")
        embeddings = tuple(np.asarray(r["embedding"], dtype=np.float32) for r in found)
        entries.append(GalleryEntry(new_character_id(), name, embeddings))
    return entries


def _progress(pts: float, duration: float | None, frames: int, elapsed: float) -> None:
    rate = frames / elapsed if elapsed > 0 else 0.0
    if duration:
        speed = pts / elapsed if elapsed > 0 else 0.0
        eta = (duration - pts) / speed if speed > 0 else 0.0
        line = f"media {_clock(pts)} / {_clock(duration)}  {rate:.1f} frames/s  ETA {_clock(eta)}"
    else:
        line = f"media {_clock(pts)}  {rate:.1f} frames/s"
    print(f"\r{line}   ", end="", file=sys.stderr, flush=True)


def _summary(
    clip: str, messages: list[dict], state, fps: float, frames: int, elapsed: float, duration, partial: bool
) -> dict[str, Any]:
    alerts = [m for m in messages if m["type"] == "alert"]
    media = next((m["pts"] for m in reversed(messages) if m["type"] == "frame"), 0.0)
    return {
        "file": Path(clip).name,
        "partial": partial,
        "analysis_fps": fps,
        "media_seconds": round(media, 2),
        "file_seconds": round(duration, 2) if duration else None,
        "frames": frames,
        "faces": sum(m["type"] == "face" for m in messages),
        "shot_cuts": sum(m["type"] == "frame" and m["cut"] for m in messages),
        "frames_per_s": round(frames / elapsed, 2) if elapsed > 0 else None,
        "faster_than_real_time": round(media / elapsed, 2) if elapsed > 0 else None,
        "characters": state.analytics.character_summaries(fps),
        "alerts": [
            {k: a.get(k) for k in ("kind", "rule", "value", "pts", "window_start", "window_end", "reasons")}
            for a in alerts
        ],
    }


def _write_windows(path: Path, messages: list[dict]) -> None:
    names = wire.character_names(messages)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(WINDOW_FIELDS)
        for m in messages:
            if m["type"] != "stats" or not m.get("character_id"):
                continue
            shares = m["shares"]
            writer.writerow([m["character_id"], names.get(m["character_id"], ""), m["pts"], m["window_start"],
                             m["window_end"], m["face_frames"], shares["positive"], shares["negative"],
                             shares["neutral"], m["dominant"], m["mean_valence"], m["mean_arousal"],
                             m["occluded_share"]])  # fmt: skip


def _png_tag(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _timeline_png(name: str, ticks: list[dict]) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 2.4), dpi=100)
    ax = fig.add_subplot()
    pts = [t["pts"] for t in ticks]
    for key, colour in (("positive", "#009e73"), ("negative", "#d55e00"), ("neutral", "#56b4e9")):
        ax.plot(pts, [t["shares"][key] for t in ticks], color=colour, label=key)
    ax.axhline(0.5, color="#999", linestyle="--", linewidth=1, label="default alert threshold (negative)")
    ax.set_ylim(0, 1)
    ax.set_xlabel("media seconds")
    ax.set_ylabel("share of face-frames, last 60 s")
    ax.set_title(f"{name}: how they felt over the programme")
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _report(summary: dict[str, Any], messages: list[dict], keyframe: np.ndarray | None) -> str:
    frames = wire.observations_from_history(messages)
    tracks = wire.character_tracks(messages)
    spatial = SpatialHeatmap(max_window_s=max(summary["media_seconds"], 1.0) + 1.0)
    for frame in frames:
        spatial.add(frame)
    sections = [_png_tag(render_spatial_png(spatial.to_dict(), keyframe, None, subject=summary["file"]), "heatmap")]
    rows = []
    for character in summary["characters"]:
        cid, name = character["character_id"], character["name"]
        ticks = [m for m in messages if m["type"] == "stats" and m.get("character_id") == cid]
        temporal = TemporalHeatmap(bin_s=max(5.0, summary["media_seconds"] / 60))
        for frame in frames:
            temporal.add(frame.only(tracks.get(cid, set())))
        data = {**temporal.to_dict(), "character_id": cid}
        shares = (character.get("stats") or {}).get("shares") or {}
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{character['screen_time_s']}</td>"
            f"<td>{_clock(character['first_seen'])}–{_clock(character['last_seen'])}</td>"
            + "".join(f"<td>{round(100 * shares.get(p, 0))} %</td>" for p in ("positive", "negative", "neutral"))
            + "</tr>"
        )
        if ticks:
            sections.append(_png_tag(_timeline_png(name, ticks), f"timeline of {name}"))
        sections.append(_png_tag(render_temporal_png(data, subject=name), f"emotions of {name} over time"))
    alerts = "".join(
        f"<li>{html.escape(a['kind'])} {html.escape(a['rule'])} = {a['value']:.2f} at {_clock(a['pts'])}"
        f"{' — ' + html.escape(', '.join(a['reasons'])) if a['reasons'] else ''}</li>"
        for a in summary["alerts"]
    )
    title = html.escape(summary["file"])
    state = " (partial: stopped early)" if summary["partial"] else ""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}: emotion report</title>
<style>body{{font:14px system-ui,sans-serif;margin:24px;max-width:960px}}img{{max-width:100%}}
table{{border-collapse:collapse}}td,th{{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}}</style>
</head><body><h1>{title}: emotion report{state}</h1>
<p>{summary["media_seconds"]} media seconds analysed at {summary["analysis_fps"]} frames per second,
{summary["shot_cuts"]} shot cuts, {len(summary["characters"])} people, {summary["faces"]} face events.</p>
<h2>People</h2><table><tr><th>person</th><th>on screen (s)</th><th>seen</th><th>positive</th><th>negative</th>
<th>neutral</th></tr>{"".join(rows)}</table>
<p>Shares are over the last 60 seconds each person was on screen.</p>
<h2>Alerts</h2><ul>{alerts or "<li>none</li>"}</ul>
<h2>Plots</h2>{"".join(sections)}
</body></html>
"""
