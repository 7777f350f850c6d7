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


def test_a_block_resting_off_centre_on_another_is_on_it():
    from agent.envs.tabletop.scene import GEOMETRY
    from agent.perception.relations import relations_of
    from agent.perception.scene import PerceivedObject

    def stack(across: float, up: float) -> list[str]:
        objects = {
            "blue_block": PerceivedObject("blue_block", True, (0.0, 0.0, 0.02), 1.0),
            "red_block": PerceivedObject("red_block", True, (across, 0.0, 0.02 + up), 1.0),
        }
        return relations_of(objects, None, None, GEOMETRY)

    # Set down 1.6 cm off centre and seen 2.0 cm off (a learned model's tower): still on it.
    assert "on(red_block, blue_block)" in stack(0.020, 0.04)
    assert "on(red_block, blue_block)" in stack(0.027, 0.04)
    # Farther across than a block and a perception error, or beside it on the table: not on it.
    assert "on(red_block, blue_block)" not in stack(0.035, 0.04)
    assert "on(red_block, blue_block)" not in stack(0.02, 0.0)
