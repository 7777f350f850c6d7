"""How every subcommand reports bad input: one line on standard error, exit status 2."""

from __future__ import annotations

import sys

BAD_INPUT = 2  # the exit status of bad input, everywhere


def refuse(message: str) -> int:
    """Print `wallwm: error: MESSAGE` and return the bad-input exit status."""
    print(f"wallwm: error: {message}", file=sys.stderr)
    return BAD_INPUT
