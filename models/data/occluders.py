"""Synthetic occluders pasted over grey face crops, reproducibly (one seeded generator in, one picture out).

FER2013 has no occlusion labels, so the saliency decoder learns "visible face" from faces with known things
put over them, the kinds a broadcast shows: a hand (a skin-toned, textured, rounded blob entering from a
side), a bar (a straight band: a railing, a pole, a graphic), a microphone (a dark head on a handle), a scarf
(a band over mouth and chin, striped or plain), another face (a patch of a different FER face), and a plain
patch (anything else held up: a smooth, shaded, large shape from an edge, or a turned piece of another
picture). A first version without plain patches learned the generators' looks (stripes, noise levels), not
occlusion: a smooth hand over a real face's mouth scored 0.05 (see docs/research-log.md). Each returns the
occluded crop and the occluder's alpha (0 = face visible, 1 = covered), soft at its edge.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

SIZE = 48
KINDS: tuple[str, ...] = ("hand", "bar", "microphone", "scarf", "face", "patch")


def _texture(rng: np.random.Generator, level: float, spread: float) -> np.ndarray:
    """A smooth random grey texture around ``level``, lit by a random linear gradient."""
    noise = cv2.GaussianBlur(rng.normal(0, 1, (SIZE, SIZE)).astype(np.float32), (0, 0), rng.uniform(1.0, 3.0))
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / SIZE - 0.5
    light = rng.uniform(0, 50) * (np.cos(angle) * xs + np.sin(angle) * ys)
    return np.clip(level + spread * noise / (noise.std() + 1e-6) + light, 0, 255)


def _hand(rng: np.random.Generator, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    alpha = np.zeros((SIZE, SIZE), np.float32)
    side = rng.integers(4)  # enters from the left, right, bottom or top
    centre = [(rng.uniform(4, 20), rng.uniform(14, 40)), (rng.uniform(28, 44), rng.uniform(14, 40)),
              (rng.uniform(12, 36), rng.uniform(30, 44)), (rng.uniform(12, 36), rng.uniform(6, 20))][side]  # fmt: skip
    axes = (rng.uniform(10, 30), rng.uniform(8, 24))
    cv2.ellipse(alpha, (round(centre[0]), round(centre[1])), (round(axes[0]), round(axes[1])),
                rng.uniform(0, 180), 0, 360, 1.0, -1)  # fmt: skip
    for _ in range(rng.integers(2, 5)):  # fingers: narrow ellipses from the palm
        angle = rng.uniform(0, 2 * np.pi)
        tip = (centre[0] + np.cos(angle) * axes[0] * 1.3, centre[1] + np.sin(angle) * axes[1] * 1.3)
        cv2.line(
            alpha, (round(centre[0]), round(centre[1])), (round(tip[0]), round(tip[1])), 1.0, int(rng.integers(3, 6))
        )
    return _texture(rng, rng.uniform(90, 210), rng.uniform(3, 20)), alpha


def _bar(rng: np.random.Generator, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    alpha = np.zeros((SIZE, SIZE), np.float32)
    angle, offset, width = rng.uniform(0, np.pi), rng.uniform(-12, 12), rng.uniform(6, 16)
    direction = np.array([np.cos(angle), np.sin(angle)])
    normal = np.array([-direction[1], direction[0]])
    middle = np.array([SIZE / 2, SIZE / 2]) + normal * offset
    a, b = middle - direction * 60, middle + direction * 60
    cv2.line(alpha, (round(a[0]), round(a[1])), (round(b[0]), round(b[1])), 1.0, round(width))
    return _texture(rng, rng.choice([rng.uniform(10, 60), rng.uniform(180, 245)]), 8), alpha


def _microphone(rng: np.random.Generator, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    alpha = np.zeros((SIZE, SIZE), np.float32)
    head = (round(rng.uniform(14, 34)), round(rng.uniform(26, 42)))
    radius = round(rng.uniform(7, 12))
    cv2.circle(alpha, head, radius, 1.0, -1)
    cv2.line(alpha, head, (head[0] + round(rng.uniform(-10, 10)), SIZE + 10), 1.0, round(rng.uniform(4, 7)))
    return _texture(rng, rng.uniform(15, 70), 10), alpha


def _scarf(rng: np.random.Generator, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    top = rng.uniform(22, 36)
    tilt = rng.uniform(-0.2, 0.2)
    xs = np.arange(SIZE, dtype=np.float32)[None, :]
    ys = np.arange(SIZE, dtype=np.float32)[:, None]
    alpha = (ys >= top + tilt * (xs - SIZE / 2)).astype(np.float32)
    period = rng.uniform(4, 9)
    stripes = rng.choice([0.0, 40.0]) * np.sin(2 * np.pi * (ys + xs * rng.uniform(-0.5, 0.5)) / period)
    return np.clip(_texture(rng, rng.uniform(50, 200), rng.uniform(3, 12)) + stripes, 0, 255), alpha


def _face(rng: np.random.Generator, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    other = others[rng.integers(len(others))].astype(np.float32)
    alpha = np.zeros((SIZE, SIZE), np.float32)
    width, height = round(rng.uniform(18, 30)), round(rng.uniform(18, 30))
    x, y = round(rng.uniform(-6, SIZE - width + 6)), round(rng.uniform(-6, SIZE - height + 6))
    x1, y1, x2, y2 = max(0, x), max(0, y), min(SIZE, x + width), min(SIZE, y + height)
    cv2.ellipse(alpha, ((x1 + x2) // 2, (y1 + y2) // 2), ((x2 - x1) // 2, (y2 - y1) // 2), 0, 0, 360, 1.0, -1)
    patch = cv2.resize(other, (SIZE, SIZE))  # another person's face, as big as the frame shows it
    return patch, alpha


def _patch(rng: np.random.Generator, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    alpha = np.zeros((SIZE, SIZE), np.float32)
    side = rng.integers(4)
    reach = rng.uniform(0.3, 0.65) * SIZE  # how far into the crop it comes
    centre = [(0, rng.uniform(10, 38)), (SIZE, rng.uniform(10, 38)), (rng.uniform(10, 38), SIZE),
              (rng.uniform(10, 38), 0)][side]  # fmt: skip
    cv2.ellipse(alpha, (round(centre[0]), round(centre[1])), (round(reach), round(rng.uniform(0.5, 1.1) * reach)),
                rng.uniform(0, 180), 0, 360, 1.0, -1)  # fmt: skip
    if rng.random() < 0.5:
        return _texture(rng, rng.uniform(20, 235), rng.uniform(2, 15)), alpha
    other = np.rot90(others[rng.integers(len(others))], int(rng.integers(1, 4))).astype(np.float32)
    return cv2.GaussianBlur(other, (0, 0), rng.uniform(0.5, 2.5)), alpha  # a turned picture: no face structure


_MAKERS: dict[str, Callable[[np.random.Generator, np.ndarray], tuple[np.ndarray, np.ndarray]]] = {
    "hand": _hand,
    "bar": _bar,
    "microphone": _microphone,
    "scarf": _scarf,
    "face": _face,
    "patch": _patch,
}


def occlude(
    image: np.ndarray, rng: np.random.Generator, others: np.ndarray, kind: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A 48×48 grey crop with an occluder of ``kind`` (random when None) over it, and the occluder's alpha.
    ``others``: (M, 48, 48) grey faces, for the "face" kind."""
    kind = kind or KINDS[rng.integers(len(KINDS))]
    fill, alpha = _MAKERS[kind](rng, others)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 0.8)  # a soft edge, as a real occluder's at this resolution
    mixed = image.astype(np.float32) * (1 - alpha) + fill * alpha
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8), alpha
