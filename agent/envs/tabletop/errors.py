"""Errors of the tabletop simulator, its task suite and its expert."""

from worldmodel.errors import ContractError, WallwmError


class UnknownNameError(ContractError, KeyError):
    """A task, object, skill or fault name that the tabletop world does not know."""

    def __str__(self) -> str:  # KeyError would quote the message; show it as written
        return str(self.args[0]) if self.args else ""


class SkillArgumentError(ContractError):
    """A skill was called without an argument it needs, or with one it cannot act on."""


class SimulationUnstableError(WallwmError):
    """The physics produced NaN or objects left the table's world: the state is unusable."""


class SceneSetupError(WallwmError):
    """The scene cannot be set up: its objects do not fit on the table, or the physics did not
    keep a relation the scene file asked for."""
