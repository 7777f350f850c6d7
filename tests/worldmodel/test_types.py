"""The shared contracts refuse bad input with a specific error that says what was expected."""

import math

import numpy as np
import pytest

from worldmodel.errors import (
    ActionOutOfBoundsError,
    ActionShapeError,
    ContractError,
    ImageDtypeError,
    ImageShapeError,
    MissingCameraError,
    NonFiniteError,
    UnexpectedCameraError,
)
from worldmodel.types import (
    ActionSpace,
    CameraSpec,
    EventExecutor,
    EventPrediction,
    EventRequest,
    Observation,
)

CAMERAS = (
    CameraSpec("front", 32, 24, intrinsics=CameraSpec.pinhole_intrinsics(32, 24, 45.0)),
    CameraSpec("side", 32, 24),
    CameraSpec("wrist", 32, 24, mounted_on="arm0"),
)


def images(**overrides: np.ndarray) -> dict[str, np.ndarray]:
    frames = {camera.name: np.zeros(camera.image_shape, np.uint8) for camera in CAMERAS}
    frames.update(overrides)
    return frames


def observation(**kwargs) -> Observation:
    fields = dict(
        cameras=CAMERAS, images=images(), proprio=np.zeros(8, np.float32), timestamp=0.0, step=0
    )
    fields.update(kwargs)
    return Observation(**fields)


def test_valid_observation_keeps_cameras_in_declared_order():
    obs = observation()
    assert obs.camera_names == ("front", "side", "wrist")
    assert obs.proprio.dtype == np.float32


def test_missing_camera_names_it_and_the_expected_list():
    frames = images()
    del frames["side"]
    with pytest.raises(MissingCameraError, match=r"lacks camera\(s\) \['side'\].*'front', 'side'"):
        observation(images=frames)


def test_undeclared_camera_is_refused():
    with pytest.raises(UnexpectedCameraError, match="'top'"):
        observation(images=images(top=np.zeros((24, 32, 3), np.uint8)))


@pytest.mark.parametrize(
    "shape",
    [(32, 24, 3), (24, 32), (24, 32, 4), (1, 24, 32, 3)],
    ids=["transposed", "gray", "rgba", "batched"],
)
def test_wrong_image_shape_says_found_and_expected(shape):
    with pytest.raises(ImageShapeError, match=r"'wrist'.*expected \(24, 32, 3\)"):
        observation(images=images(wrist=np.zeros(shape, np.uint8)))


def test_float_image_is_refused():
    with pytest.raises(ImageDtypeError, match="float32; expected uint8"):
        observation(images=images(front=np.zeros((24, 32, 3), np.float32)))


def test_non_array_image_is_refused():
    with pytest.raises(ImageDtypeError, match="list"):
        observation(images=images(front=[[0]]))


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_proprio_is_refused(bad):
    proprio = np.zeros(8, np.float32)
    proprio[3] = bad
    with pytest.raises(NonFiniteError, match=r"proprio.*index \[3\]"):
        observation(proprio=proprio)


def test_proprio_must_be_a_float_vector():
    with pytest.raises(ContractError, match="1-D"):
        observation(proprio=np.zeros((2, 4), np.float32))
    with pytest.raises(ContractError, match="float32"):
        observation(proprio=np.zeros(8, np.int64))


def test_camera_pose_must_be_4x4_of_a_declared_camera():
    with pytest.raises(ContractError, match=r"\(4, 4\)"):
        observation(camera_poses={"wrist": np.eye(3)})
    with pytest.raises(UnexpectedCameraError):
        observation(camera_poses={"top": np.eye(4)})


def test_camera_spec_checks_geometry():
    with pytest.raises(ContractError, match=r"intrinsics has shape \(4, 4\); expected \(3, 3\)"):
        CameraSpec("front", 32, 24, intrinsics=np.eye(4))
    with pytest.raises(ContractError, match="positive"):
        CameraSpec("front", 0, 24)
    focal = CameraSpec.pinhole_intrinsics(128, 128, 90.0)[0, 0]
    assert focal == pytest.approx(64.0)


SPACE = ActionSpace.for_arms(2, xyz_low=[-0.5, -0.5, 0.0], xyz_high=[0.5, 0.5, 0.8])


def test_action_space_dimensions_and_names():
    assert SPACE.dim == 14
    assert SPACE.component_names[7] == "arm1.x"
    action = np.zeros(14)
    action[[2, 9]] = 0.3
    assert SPACE.check(action).dtype == np.float32


def test_action_out_of_bounds_names_component_value_and_bounds():
    action = np.zeros(14)
    action[13] = 1.5  # arm1 gripper
    with pytest.raises(ActionOutOfBoundsError, match=r"arm1.gripper = 1.5 is outside \[0, 1\]"):
        SPACE.check(action)


def test_trajectory_out_of_bounds_names_the_step():
    trajectory = np.zeros((5, 14))
    trajectory[3, 2] = -0.1
    with pytest.raises(ActionOutOfBoundsError, match=r"arm0\.z at step 3"):
        SPACE.check(trajectory)


def test_a_small_overshoot_is_clipped_within_tolerance_a_large_one_refused():
    trajectory = np.zeros((3, 14))
    trajectory[1, 6] = -0.01  # gripper 1% of its range below 0
    np.testing.assert_array_equal(SPACE.check(trajectory, tolerance=0.02)[1, 6], 0.0)
    trajectory[2, 6] = -0.05
    with pytest.raises(ActionOutOfBoundsError, match=r"arm0\.gripper at step 2 .* by more than 2%"):
        SPACE.check(trajectory, tolerance=0.02)


def test_nan_action_and_wrong_width_are_refused():
    with pytest.raises(NonFiniteError):
        SPACE.check(np.full(14, np.nan))
    with pytest.raises(ActionShapeError, match=r"expected \(14,\)"):
        SPACE.check(np.zeros(7))


def test_clip_brings_action_inside_bounds():
    action = np.full(14, 10.0)
    clipped = SPACE.clip(action)
    np.testing.assert_array_equal(clipped, SPACE.high)


def test_inverted_bounds_are_refused():
    with pytest.raises(ContractError, match=r"arm0\.x: low 1\.0 > high 0\.0"):
        ActionSpace(arms=1, low=np.array([1, 0, 0, 0, 0, 0, 0]), high=np.zeros(7))


def test_event_request_needs_caption_and_positive_length():
    with pytest.raises(ContractError, match="caption is empty"):
        EventRequest(caption="  ", observation=observation(), frames=10)
    with pytest.raises(ContractError, match="frames is 0"):
        EventRequest(caption="grasp the red block", observation=observation(), frames=0)


def prediction(**kwargs) -> EventPrediction:
    fields = dict(
        actions=np.zeros((4, 7), np.float32),
        model="debug",
        time_to_first_action_s=0.01,
        total_s=0.02,
        frames={"front": np.zeros((4, 24, 32, 3), np.uint8)},
    )
    fields.update(kwargs)
    return EventPrediction(**fields)


def test_prediction_validates_actions_frames_and_latents():
    assert prediction().steps == 4
    with pytest.raises(NonFiniteError, match="model 'debug'"):
        prediction(actions=np.full((4, 7), np.nan))
    with pytest.raises(ImageShapeError, match=r"expected \(4, H, W, 3\)"):
        prediction(frames={"front": np.zeros((3, 24, 32, 3), np.uint8)})
    with pytest.raises(ContractError, match="neither frames nor latents"):
        prediction(frames=None)
    with pytest.raises(ContractError, match="latent_index"):
        prediction(frames=None, latents={"front": np.zeros((2, 16, 4, 4), np.float32)})
    ok = prediction(
        frames=None,
        latents={"front": np.zeros((2, 16, 4, 4), np.float32)},
        latent_index=np.array([0, 0, 1, 1]),
    )
    assert ok.latent_index.tolist() == [0, 0, 1, 1]
    with pytest.raises(ContractError, match="timings"):
        prediction(time_to_first_action_s=1.0, total_s=0.5)


def test_executor_protocol_is_structural():
    class Constant:
        name = "constant"

        def predict(self, request: EventRequest) -> EventPrediction:
            return prediction()

    assert isinstance(Constant(), EventExecutor)
