"""RunActor: executes one run's graph and answers stop requests while a step is in flight.

The graph itself runs on the graph loop (`RunDriver`); this actor's mailbox only carries control
messages, so a `StopRun` is handled at once even while a long step executes. When the driver has
really stopped, the actor reports `RunEnded` to its thread actor and stops itself.

The actor is dispatched on the graph loop too (`actors/kernel/dispatch.py`): its handlers never block (they
signal the driver, or tell the thread actor), and living beside its driver spares every run an OS
thread and a hand-off at its start and at its end.
"""

from __future__ import annotations

import concurrent.futures
import logging
from typing import Any

import pykka

from ..kernel.dispatch import DispatchedActor
from .driver import RunDriver, RunJob
from .messages import DriverFinished, RunEnded, StopRun
from ..models import RunOutcome
from ..kernel.runtime import GraphLoop
from ..kernel.streams import RunStream

log = logging.getLogger("switchboard.run")


class RunActor(DispatchedActor):
    def __init__(
        self, job: RunJob, stream: RunStream, runtime: GraphLoop, thread_ref: pykka.ActorRef[Any], timeout: float | None = None
    ) -> None:
        super().__init__()
        self.dispatcher = runtime
        self.job = job
        self.thread_ref = thread_ref
        self.driver = RunDriver(job, stream, runtime, timeout)
        self.finished = False
        self.stop_requested = False

    def on_start(self) -> None:
        self.driver.start().add_done_callback(self._driver_returned)

    def _driver_returned(self, future: concurrent.futures.Future[RunOutcome]) -> None:
        # Runs on the graph loop, outside a turn of this actor: hand the result back as a message.
        try:
            message = DriverFinished(outcome=future.result())
        except BaseException as exc:  # noqa: BLE001 - a driver bug must still end the run
            log.exception("run %s: driver failed", self.job.run_id)
            message = DriverFinished(outcome=None, error=f"{type(exc).__name__}: {exc}")
        self.actor_ref.tell(message)

    def on_receive(self, message: Any) -> None:
        if isinstance(message, StopRun):
            if not self.finished and not self.stop_requested:
                self.stop_requested = True
                self.driver.stop()
        elif isinstance(message, DriverFinished):
            self.finished = True
            outcome = message.outcome or RunOutcome(
                status="error",
                thread_status="error",
                error={"error": "InternalError", "message": message.error or "driver failed"},
            )
            try:
                self.thread_ref.tell(RunEnded(run_id=self.job.run_id, outcome=outcome))
            except pykka.ActorDeadError:  # its thread actor stopped: shutdown, or (cluster) the thread moved
                log.info("run %s ended after its thread actor stopped", self.job.run_id)
            self.stop_after_this_message()  # a StopRun still queued is moot: the run has ended
