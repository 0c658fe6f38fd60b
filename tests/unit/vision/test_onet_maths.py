"""The maths around O-net following: the square input, zero padding at the edges, MTCNN's output mapping."""

import numpy as np

from service.vision.detector import ONET_SIZE, from_onet, onet_input, square


def test_square_keeps_the_centre_and_takes_the_longer_side():
    np.testing.assert_allclose(square(np.array([10, 20, 50, 100])), [-10, 20, 70, 100])


def test_onet_input_pads_outside_the_image_with_black():
    image = np.full((100, 100, 3), 200, np.uint8)
    crop = onet_input(image, np.array([-50, 0, 50, 100]))  # the left half is outside
    assert crop.shape == (ONET_SIZE, ONET_SIZE, 3)
    assert crop[:, :20].max() == 0 and crop[:, 28:].min() == 200


def test_onet_outputs_map_back_through_the_input_square():
    box = np.array([100.0, 50.0, 199.0, 149.0])  # 100 px wide in MTCNN's +1 convention
    landmarks = np.array([0.3, 0.7, 0.5, 0.35, 0.65, 0.4, 0.4, 0.6, 0.8, 0.8])
    found = from_onet(box, np.array([0.1, 0.0, -0.1, 0.05]), landmarks, 0.97)
    np.testing.assert_allclose(found.box, [110, 50, 189, 154])
    np.testing.assert_allclose(found.landmarks[0], [129, 89])  # 100 * 0.3 + 100 - 1, 100 * 0.4 + 50 - 1
    assert found.score == 0.97
