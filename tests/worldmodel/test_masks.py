"""Training masks on hand-made camera geometry."""

import numpy as np
import pytest
import torch

from worldmodel.errors import ModelInputError
from worldmodel.masks import apply_tube_noise, patch_axes, sight_cone_mask, tube_mask
from worldmodel.types import CameraSpec

SIZE = (30, 30)  # pixels; a 3 x 3 patch grid puts the centre patch on the optical axis
GRID = (3, 3)
K = CameraSpec.pinhole_intrinsics(30, 30, 60.0)


def look_at(position, target) -> np.ndarray:
    """base_from_camera pose (OpenCV axes, y down = -world z) looking from position to target."""
    position, target = np.asarray(position, float), np.asarray(target, float)
    forward = (target - position) / np.linalg.norm(target - position)
    down = np.array([0.0, 0.0, -1.0])
    right = np.cross(down, forward)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([right, down, forward], axis=1)
    pose[:3, 3] = position
    return pose


def test_patch_axes_point_through_the_patch_centres():
    pose = look_at([0, 0, 0], [1, 0, 0])
    centre, axes, half = patch_axes(K, pose, SIZE, GRID)
    assert np.allclose(centre, 0)
    assert np.allclose(axes[4], [1, 0, 0])  # the centre patch looks along the optical axis
    assert axes[3][1] > 0 > axes[5][1]  # left patch looks to +y (left), right patch to -y
    assert half == pytest.approx(5 / K[0, 0])


def test_cameras_looking_at_the_same_point_may_attend_there_only():
    target = [0.6, 0, 0]
    poses = np.stack([look_at([0, 0, 0], target), look_at([0.6, 0.6, 0], target)])
    mask = sight_cone_mask(np.stack([K, K]), poses, SIZE, GRID, 0.1, 1.5, scale=1.0)
    assert mask.shape == (18, 18) and mask.dtype == torch.bool
    assert torch.equal(mask, mask.T)
    assert mask[:9, :9].all() and mask[9:, 9:].all()  # same view: always
    assert mask[4, 9 + 4]  # both centre axes cross at the target
    cross = mask[:9, 9:]
    assert 0 < int(cross.sum()) < 81  # some but not all cross-view pairs


def test_cameras_looking_apart_never_attend_across():
    poses = np.stack([look_at([0, 0, 0], [1, 0, 0]), look_at([0, 0, 0.05], [-1, 0, 0.05])])
    mask = sight_cone_mask(np.stack([K, K]), poses, SIZE, GRID, 0.2, 1.5, scale=1.0)
    assert not mask[:9, 9:].any()
    assert mask[:9, :9].all()


def test_depth_band_decides():
    # the centre axes cross 1 m in front of camera 0; a band that stops at 0.5 m excludes it
    target = [1.0, 0, 0]
    poses = np.stack([look_at([0, 0, 0], target), look_at([0, 1.0, 0], target)])
    near = sight_cone_mask(np.stack([K, K]), poses, SIZE, GRID, 0.1, 0.5, scale=1.0)
    far = sight_cone_mask(np.stack([K, K]), poses, SIZE, GRID, 0.1, 2.0, scale=1.0)
    assert far[4, 13] and not near[4, 13]


def test_bad_geometry_is_refused():
    with pytest.raises(ModelInputError, match=r"\(V, 3, 3\)"):
        sight_cone_mask(np.stack([K]), np.eye(4)[None, :3], SIZE, GRID, 0.1, 1.0, 1.0)
    with pytest.raises(ModelInputError, match="depth band"):
        sight_cone_mask(np.stack([K]), np.eye(4)[None], SIZE, GRID, 1.0, 0.5, 1.0)


def test_tube_mask_is_one_window_of_one_view_in_every_frame():
    shape = (4, 3, 2, 5, 6, 6)
    mask = tube_mask(shape, 2, 1.0, torch.Generator().manual_seed(0))
    assert mask.shape == (4, 3, 1, 5, 6, 6)
    for sample in mask:
        per_view = sample.flatten(1).sum(1)
        assert sorted(per_view.tolist()) == [0, 0, 2 * 2 * 5]
        view = int(per_view.argmax())
        assert torch.equal(sample[view, 0, 0], sample[view, 0, -1])  # same window every frame
    assert not tube_mask(shape, 2, 0.0).any()
    x_t, noise = torch.zeros(shape), torch.ones(shape)
    noised = apply_tube_noise(x_t, noise, mask)
    assert torch.equal(noised.bool(), mask.expand(shape))
    with pytest.raises(ModelInputError, match="does not fit"):
        tube_mask(shape, 7, 1.0)
