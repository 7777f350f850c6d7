"""`wallwm`: the command line of wallwm-agent.

Usage:
    wallwm run --task bowl_red_blue    # the agent executes a task in the simulator
    wallwm replay runs/ID --video out.mp4   # a recorded episode's timeline and video
    wallwm eval --tasks bowl_red_blue --faults none,grasp_slip --seeds 0-4   # recovery study
    wallwm doctor                      # what this machine offers, and what is missing
    wallwm doctor --vlm-url http://127.0.0.1:8000/v1

Each subcommand lives in its own module with `register(subparsers)`; its parser's default `func`
takes the parsed arguments and returns the exit code.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from typing import NoReturn

from agent import __version__
from agent.cli import data, doctor, eval_model, evaluate, replay, run, sim, skills, train
from agent.cli.output import BAD_INPUT, refuse
from worldmodel.errors import WallwmError


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line, like every other bad input (its subcommands' parsers
    are of this class too)."""

    def error(self, message: str) -> NoReturn:
        self.exit(BAD_INPUT, f"wallwm: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="wallwm",
        description="Event-driven robot task execution with the WALL-WM world action model.",
    )
    parser.add_argument("--version", action="version", version=f"wallwm-agent {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run.register(subparsers)
    replay.register(subparsers)
    doctor.register(subparsers)
    skills.register(subparsers)
    sim.register(subparsers)
    data.register(subparsers)
    train.register(subparsers)
    eval_model.register(subparsers)
    evaluate.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # MuJoCo picks its GL backend at import time; offscreen EGL works without a display.
    os.environ.setdefault("MUJOCO_GL", "egl")
    words = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(words)
    # What the user typed, for the outputs that state it (a study's report and summary.json).
    args.command_line = shlex.join(["wallwm", *map(str, words)])
    return int(args.func(args))


def entry() -> int:
    """The `wallwm` console script: `main`, with an error the user can cause (a WallwmError, whose
    message says what was wrong and what was expected) printed as one line and exit status 2
    instead of a traceback, and Ctrl-C where the command does not handle it itself as one line
    and status 130. WALLWM_TRACEBACK=1 shows the traceback. Tests call `main`, which raises."""
    try:
        return main()
    except (WallwmError, KeyboardInterrupt) as error:
        if os.environ.get("WALLWM_TRACEBACK") == "1":
            raise
        if isinstance(error, KeyboardInterrupt):
            print("wallwm: interrupted", file=sys.stderr)
            return 130  # the shell's status for a command stopped by Ctrl-C
        return refuse(str(error))


if __name__ == "__main__":
    sys.exit(entry())
