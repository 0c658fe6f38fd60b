import cv2
import numpy as np
import pytest

from service.analytics import (
    SaliencyHeatmap,
    SpatialHeatmap,
    TemporalHeatmap,
    render_saliency_png,
    render_spatial_png,
    render_temporal_png,
)


def decode(png: bytes) -> np.ndarray:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    image = cv2.imdecode(np.frombuffer(png, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image  # BGR


@pytest.fixture
def spatial(face, frame):
    heatmap = SpatialHeatmap()
    for i in range(20):
        heatmap.add(frame(i * 0.5, face("sad", box=(0.05, 0.05, 0.3, 0.4)), face("happy", box=(0.6, 0.5, 0.9, 0.95))))
    return heatmap


def strong_red_pixels(image: np.ndarray) -> int:
    blue, green, red = (image[..., c].astype(int) for c in range(3))
    return int(np.count_nonzero((red > 150) & (red > green + 80) & (red > blue + 80)))


def test_spatial_png_over_a_keyframe(spatial):
    keyframe = np.zeros((180, 320, 3), dtype=np.uint8)
    keyframe[..., 2] = np.linspace(0, 255, 320, dtype=np.uint8)[None, :]
    image = decode(render_spatial_png(spatial, keyframe, polarity="negative"))
    assert image.shape[1] == 800
    assert 450 <= image.shape[0] <= 560
    assert image.std() > 20
    assert strong_red_pixels(image) > 1000


def test_spatial_png_without_keyframe_net_view_from_a_dict(spatial):
    png = render_spatial_png(spatial.to_dict(), None, None)
    image = decode(png)
    assert image.shape[1] == 800 and image.std() > 20
    assert strong_red_pixels(image) > 500  # the negative face, left
    assert png == render_spatial_png(spatial.to_dict(), None, None)  # deterministic
    with pytest.raises(ValueError):
        render_spatial_png(spatial, None, "sad")


def test_temporal_png(face, frame):
    heatmap = TemporalHeatmap(bin_s=5.0)
    for i in range(120):
        heatmap.add(frame(i / 2, face("sad" if i < 60 else "happy")))
    image = decode(render_temporal_png(heatmap.to_dict()))
    assert image.shape[:2] == (420, 1000)
    assert image.std() > 20
    empty = decode(render_temporal_png(TemporalHeatmap()))
    assert empty.shape[:2] == (420, 1000) and empty.std() > 5


def test_saliency_heatmap_averages_the_masks_of_scored_faces_and_renders_with_a_legend(face, frame):
    visible = tuple(tuple(1.0 for _ in range(12)) for _ in range(12))
    lower_covered = tuple(tuple(1.0 if row < 6 else 0.0 for _ in range(12)) for row in range(12))
    heatmap, track2 = SaliencyHeatmap(), SaliencyHeatmap(track_id=2)
    for i in range(4):
        obs = frame(i / 2, face("sad", saliency=visible if i < 2 else lower_covered, occluded=i >= 2),
                    face("happy", track_id=2), face("happy", track_id=3, saliency=visible))  # fmt: skip
        heatmap.add(obs)
        track2.add(obs)
    data = heatmap.to_dict()
    assert data["faces"] == 8 and data["occluded_share"] == 0.25
    mean = np.array(data["mean"])
    assert mean[0, 0] == 1.0 and mean[11, 0] == 0.75  # the covered half darker
    assert track2.to_dict() == {"kind": "saliency", "track_id": 2, "faces": 0, "occluded_share": 0.0, "mean": None}
    image = decode(render_saliency_png(data, subject="studio"))
    assert image.shape[0] > 300 and image.std() > 20
    assert decode(render_saliency_png(track2)).std() > 5  # no scored faces: still a labelled picture
