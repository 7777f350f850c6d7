"""Perception: the objects of the tabletop vocabulary found in the camera images.

    from agent.perception import perceive
    scene = perceive(observation)            # images + calibrated CameraSpecs, nothing else
    scene.objects["red_block"].position      # (x, y, z) m in the robot base frame, or None
    scene.point("red_block", "front")        # normalised (x, y) in the front image
    scene.relations()                        # ["in(red_block, bowl)", "open(drawer)", ...]

Points are normalised image coordinates: x = u / W to the right, y = v / H down, (0, 0) the
image's top-left corner and (1, 1) its bottom-right; a pixel's centre is ((j + 0.5) / W,
(i + 0.5) / H) for row i, column j (docs/perception.md).
"""

from agent.perception.pipeline import PerceptionConfig, perceive
from agent.perception.scene import PerceivedObject, Scene, Sighting

__all__ = ["PerceivedObject", "PerceptionConfig", "Scene", "Sighting", "perceive"]
