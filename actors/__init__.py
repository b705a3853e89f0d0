"""switchboard's actor system: one actor per thread serializes its runs and applies the multitask
strategy; one actor per running run executes the graph and answers stop requests.

The public face is `ActorSystem` (embedded use, no HTTP); the rest is importable for the curious.
"""

from .errors import Conflict, InvalidInput, NotFound, ShuttingDown, SwitchboardError, ThreadBusy
from .models import Assistant, Run, RunOutcome, Thread
from .config.settings import Settings
from .runs.strategy import ActiveRun, Decision, decide
from .system import ActorSystem

__all__ = [
    "ActiveRun",
    "ActorSystem",
    "Assistant",
    "Conflict",
    "Decision",
    "InvalidInput",
    "NotFound",
    "Run",
    "RunOutcome",
    "Settings",
    "ShuttingDown",
    "SwitchboardError",
    "Thread",
    "ThreadBusy",
    "decide",
]
