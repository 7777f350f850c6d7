"""Fixtures of the goal tests: one instruction parser for the session (MiniLM loads once, and
only when a test reads a word that is not in the lexicon)."""

from __future__ import annotations

import pytest

from agent.goals import InstructionParser


@pytest.fixture(scope="session")
def parser() -> InstructionParser:
    return InstructionParser()
