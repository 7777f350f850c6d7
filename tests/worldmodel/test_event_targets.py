"""EventRequest targets: a point per camera in normalised image coordinates, validated."""

import numpy as np
import pytest

from worldmodel.errors import ContractError, NonFiniteError, UnexpectedCameraError
from worldmodel.types import CameraSpec, EventRequest, EventTarget, Observation

CAMERAS = (CameraSpec("front", 32, 24), CameraSpec("side", 32, 24))
OBSERVATION = Observation(
    cameras=CAMERAS,
    images={c.name: np.zeros(c.image_shape, np.uint8) for c in CAMERAS},
    proprio=np.zeros(7, np.float32),
    timestamp=0.0,
    step=0,
)


def request(*targets: EventTarget) -> EventRequest:
    return EventRequest("place the red block in the bowl", OBSERVATION, 10, targets=targets)


def test_requests_with_and_without_targets():
    assert request().targets == () and request().target("object") is None
    red = EventTarget("object", "red_block", {"front": (0.0, 1.0)}, (0.1, -0.2, 0.02))
    bowl = EventTarget("destination", "bowl", {"front": (0.5, 0.5), "side": (0.25, 0.75)})
    made = request(red, bowl)
    assert made.target("object") is red and made.target("destination") is bowl


@pytest.mark.parametrize(
    ("target", "error", "message"),
    [
        (
            EventTarget("object", "red_block", {"front": (1.2, 0.5)}),
            ContractError,
            r"targets\[0\]\.points\['front'\] = \(1\.2, 0\.5\) lies outside the image",
        ),
        (
            EventTarget("object", "red_block", {"front": (0.5, -0.01)}),
            ContractError,
            "lies outside the image",
        ),
        (
            EventTarget("object", "red_block", {"top": (0.5, 0.5)}),
            UnexpectedCameraError,
            r"targets\[0\]\.points\['top'\]: camera 'top' is not declared",
        ),
        (
            EventTarget("object", "red_block", {"side": (float("nan"), 0.5)}),
            NonFiniteError,
            r"targets\[0\]\.points\['side'\] contains NaN",
        ),
        (
            EventTarget("object", "red_block", {}, (0.1, float("nan"), 0.0)),
            NonFiniteError,
            r"targets\[0\]\.position contains NaN",
        ),
        (
            EventTarget("goal", "red_block", {"front": (0.5, 0.5)}),
            ContractError,
            r"targets\[0\]\.role is 'goal'",
        ),
    ],
)
def test_bad_targets_are_refused_naming_the_field(target, error, message):
    with pytest.raises(error, match=message):
        request(target)


def test_one_target_per_role():
    twice = EventTarget("object", "red_block", {"front": (0.5, 0.5)})
    with pytest.raises(ContractError, match="repeat a role"):
        request(twice, twice)
