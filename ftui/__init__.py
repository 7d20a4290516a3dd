"""ftui: the fine-tuning cockpit of an Ollama chat assistant (the core, free of any UI)."""

__version__ = "0.1.0"

REASONING_MODES = ("standard", "chain_of_thought", "multi_step", "agent", "auto")
STATUSES = ("new", "accepted", "rejected")
