"""One sweep passivates idle thread actors for the whole system.

Every `idle_timeout / 2` a timer on the graph loop has a pool worker tell each live thread actor
`PassivateIfIdle`; an actor idle for `idle_timeout` releases itself from the registry and stops (its
state is in storage; the next message for its thread starts a new one). Going idle therefore costs
an actor nothing - no timer per actor or per run end - and the sweep's cost is one message per live
actor per interval.
"""

from __future__ import annotations

import asyncio

from ..runs import messages as m
from ..context import SystemContext


class PassivationSweep:
    def __init__(self, ctx: SystemContext) -> None:
        self.ctx = ctx
        self.interval = max(ctx.settings.idle_timeout / 2, 0.01)
        self._timer: asyncio.TimerHandle | None = None
        self._stopped = False

    def start(self) -> None:
        self.ctx.runtime.call_soon(self._arm)

    def stop(self) -> None:
        self._stopped = True
        timer = self._timer
        if timer is not None:
            self.ctx.runtime.call_soon(timer.cancel)

    def _arm(self) -> None:  # on the graph loop
        if not self._stopped:
            self._timer = self.ctx.runtime.loop.call_later(self.interval, self._tick)

    def _tick(self) -> None:  # on the graph loop: the telling is done by a pool worker
        self.ctx.actor_pool.execute(self._sweep)
        self._arm()

    def _sweep(self) -> None:
        tick = m.PassivateIfIdle()
        for ref in self.ctx.registry.refs():
            try:
                ref.tell(tick)
            except Exception:  # noqa: BLE001 - it stopped meanwhile (deleted, or shut down)
                pass
