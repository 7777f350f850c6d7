"""The MuJoCo tabletop world: scene, simulator, task suite, scripted expert, faults and oracle.

from agent.envs.tabletop import TabletopSim, get_task, run_episode
sim = TabletopSim()                       # Robot protocol: reset(seed), step(action), close()
episode = run_episode(sim, get_task("drawer_red"), seed=0)
"""

from agent.envs.tabletop.episode import CaptionSpan, Episode, EventRecord
from agent.envs.tabletop.expert import RunConfig, recovery_episode, run_episode
from agent.envs.tabletop.faults import FAULT_KINDS, FaultConfig, FaultInjector
from agent.envs.tabletop.oracle import SimulatorOracleExecutor
from agent.envs.tabletop.sim import PROPRIO_COMPONENTS, SimConfig, SimState, TabletopSim
from agent.envs.tabletop.skills import SKILLS, ExpertConfig
from agent.envs.tabletop.tasks import FAMILIES, TASKS, PlanStep, Subtask, Task, get_task

__all__ = [
    "FAMILIES",
    "FAULT_KINDS",
    "PROPRIO_COMPONENTS",
    "SKILLS",
    "TASKS",
    "CaptionSpan",
    "Episode",
    "EventRecord",
    "ExpertConfig",
    "FaultConfig",
    "FaultInjector",
    "PlanStep",
    "RunConfig",
    "SimConfig",
    "SimState",
    "SimulatorOracleExecutor",
    "Subtask",
    "TabletopSim",
    "Task",
    "get_task",
    "recovery_episode",
    "run_episode",
]
