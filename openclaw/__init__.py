"""openclaw-agent: dispatch AI coding agents to executors and manage them from one CLI."""

__version__ = "0.1.0"
