"""A real worker process whose processing has a visible side effect and takes its time.

Started by the crash tests: it runs the service's own queue, worker, processor and sweeper
from ``LEITSTAND_*`` settings, adds one hook that records a row in ``test_effect`` inside
the processing transaction and then sleeps, and announces each start on stdout so the test
can kill it in the middle.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.services import Services
from app.settings import Settings
from inbox.processing import ProcessedMessage

SLEEP_S = float(os.environ.get("TEST_PROCESSING_SLEEP_S", "0"))


async def record_and_linger(session: AsyncSession, processed: list[ProcessedMessage]) -> None:
    for message in processed:
        await session.execute(
            sa.text("INSERT INTO test_effect (message_id) VALUES (:id)"), {"id": message.id}
        )
    print("processing", *(m.id for m in processed), flush=True)
    await asyncio.sleep(SLEEP_S)


async def main() -> None:
    services = Services.build(Settings())
    services.processor.hooks.append(record_and_linger)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    services.start_background()
    print("ready", flush=True)
    await stop.wait()
    await services.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
