"""Small helpers shared by tests."""

from __future__ import annotations

from typing import Any


def inp(tag: str, **overrides: Any) -> dict[str, Any]:
    """Input for the test graphs; every knob is set so nothing leaks from a previous run's state."""
    return {"tag": tag, "delay": 0.0, "slow_at": -1, "slow_delay": 0.0, "fail_at": -1, **overrides}


SLOW_STEP = 60.0  # long enough that a test would time out if a stop waited for the step to finish
