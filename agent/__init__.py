"""wallwm-agent: the LangGraph agent, planners, verification, recovery, environments and CLI."""

__version__ = "0.1.0"
