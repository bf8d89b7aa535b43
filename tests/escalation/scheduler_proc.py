"""A real scheduler process for the multi-process timer tests.

It builds the service's own ``Services`` from ``LEITSTAND_*`` settings and runs only the
escalation loops (timer scheduler and notification dispatcher). With
``TEST_FIRE_SLEEP_S`` it lingers inside the fire transaction after the timer's effects
(announcing ``firing <id>`` first), so that a test can kill it mid-fire.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from sqlalchemy.ext.asyncio import AsyncSession

from app.services import Services
from app.settings import Settings
from escalation.env import Env
from escalation.timers import DueTimer

SLEEP_S = float(os.environ.get("TEST_FIRE_SLEEP_S", "0"))


async def main() -> None:
    services = Services.build(Settings())
    scheduler = services.escalation.scheduler
    escalate = scheduler.handlers["escalate"]

    async def lingering(session: AsyncSession, env: Env, timer: DueTimer) -> None:
        await escalate(session, env, timer)
        print("firing", timer.id, flush=True)
        await asyncio.sleep(SLEEP_S)

    scheduler.handlers["escalate"] = lingering
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await services.start()
    services.start_background(worker=False, sweeper=False)
    print("ready", flush=True)
    await stop.wait()
    await services.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
