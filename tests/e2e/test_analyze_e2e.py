"""``python -m service analyze``: a recorded programme with two people and three cuts gives the events, a CSV of
per-person windows, a summary and a self-contained report; Ctrl-C keeps partial output; a bad file is one line."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time

import pytest

from service.analyze import analyze_file
from service.config import Settings
from tests.conftest import DATA
from tests.e2e.test_characters_e2e import CUTS, EDIT, png
from tests.edited_clips import read_frames, write_edit

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_programme_gives_events_windows_summary_and_report(tmp_path):
    clip = tmp_path / "programme.mp4"
    write_edit(clip, EDIT)  # host, guest, host, guest: three cuts, two people
    summary = analyze_file(Settings(device="cpu"), str(clip), str(tmp_path / "out"), fps=5)
    out = tmp_path / "out"
    assert json.loads((out / "summary.json").read_text()) == summary
    assert not summary["partial"] and summary["shot_cuts"] == 3 and summary["frames"] == 39
    people = {c["character_id"]: c for c in summary["characters"]}
    assert len(people) == 2 and all(c["screen_time_s"] > 1 for c in people.values())
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert sum(e["type"] == "frame" for e in events) == 39 and sum(e["type"] == "face" for e in events) == 39
    with (out / "windows.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {r["character_id"] for r in rows} == set(people) and all(0 <= float(r["negative"]) <= 1 for r in rows)
    report = (out / "report.html").read_text()
    assert all(c["name"] in report for c in people.values()) and report.count("data:image/png;base64,") >= 5


def test_ctrl_c_keeps_the_partial_output_and_a_bad_file_is_one_line(tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "service", "analyze", str(DATA / "carphone_pristine.mp4"), "--fps", "30"]
    process = subprocess.Popen([*command, "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "events.jsonl").exists() or (out / "events.jsonl").stat().st_size < 10_000:
        assert time.time() < deadline and process.poll() is None, "analysis did not start"
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 0 and "partial results" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["partial"] and 0 < summary["media_seconds"] < summary["file_seconds"]
    assert (out / "report.html").exists() and (out / "windows.csv").exists()
    bad = subprocess.run([*command[:4], str(tmp_path / "missing.mp4")], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and bad.stderr.strip().splitlines() == [
        f"error: no such file: {tmp_path / 'missing.mp4'}"
    ]


def test_enrolled_stills_name_their_people_and_a_bad_still_stops_before_any_output(tmp_path):
    clip, host, text = tmp_path / "programme.mp4", tmp_path / "host.png", tmp_path / "notes.png"
    write_edit(clip, EDIT)
    host.write_bytes(png(read_frames("single_face.mp4")[50]))  # a frame the edit does not show
    text.write_text("not a picture")
    summary = analyze_file(Settings(device="cpu"), str(clip), str(tmp_path / "out"), fps=5, enrol=[("Ann", str(host))])
    assert sorted(c["name"] for c in summary["characters"]) == ["Ann", "person 1"]
    events = [json.loads(line) for line in (tmp_path / "out" / "events.jsonl").read_text().splitlines()]
    hosts = [e for e in events if e["type"] == "face" and (e["pts"] < CUTS[0] or CUTS[1] < e["pts"] < CUTS[2])]
    assert sum(e["character"] == "Ann" for e in hosts) >= 0.9 * len(hosts)
    with pytest.raises(SystemExit, match=r"--enrol Ann=.*notes\.png: not an image"):
        analyze_file(Settings(device="cpu"), str(clip), str(tmp_path / "bad"), fps=5, enrol=[("Ann", str(text))])
    assert not (tmp_path / "bad").exists()
