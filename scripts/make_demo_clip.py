"""Builds ``service/data/demo_programme.mp4``, the demo's looping "programme": a host and a guest, cut
between each other, from the two bundled real face clips (licences in ``service/data/README.md``).

Run from the repository root: ``.venv/bin/python scripts/make_demo_clip.py``. The output is committed; this
script says how it was made. A reversed shot (``step=-1``) lengthens a short clip without a jump in it.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.edited_clips import Shot, write_edit  # noqa: E402

HOST, GUEST = "single_face.mp4", "carphone_pristine.mp4"
SHOTS = (  # the loop wraps from the guest back to the host: a fourth cut
    Shot(HOST, 0, 72),  # the host, neutral, then smiling
    Shot(GUEST, 0, 120),
    Shot(HOST, 71, 72, step=-1),
    Shot(GUEST, 119, 120, step=-1),
)


def main() -> None:
    out = ROOT / "service" / "data" / "demo_programme.mp4"
    cuts = write_edit(out, SHOTS)
    print(f"wrote {out.relative_to(ROOT)}: cuts at {', '.join(f'{c:.2f}' for c in cuts)} s")


if __name__ == "__main__":
    main()
