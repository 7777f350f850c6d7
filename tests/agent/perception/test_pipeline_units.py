"""Units of the perception pipeline that scenes rarely reach."""

import numpy as np

from agent.perception.pipeline import _pixels_by_class


def test_an_image_of_background_only_has_no_pixels_of_any_class():
    # a wrist camera against the arm: every label is background (0); this once raised
    assert _pixels_by_class(np.zeros((8, 8), np.int64)) == {}
    labels = np.zeros((3, 4), np.int64)
    labels[1, 2] = labels[2, 3] = 5
    rows, cols = _pixels_by_class(labels)[5]
    assert rows.tolist() == [1, 2] and cols.tolist() == [2, 3]
