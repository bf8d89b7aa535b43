"""`leitstand demo` traffic goes through the real endpoints and lands in the inbox."""

from __future__ import annotations

import sqlalchemy as sa

from app.db import unit_of_work
from inbox.demo import CRITICAL, EVERYDAY, ensure_demo_channels, replay
from tests.conftest import live_server, make_settings


async def test_demo_replays_through_the_webhooks(sqlite_url: str) -> None:
    async with live_server(make_settings(sqlite_url)) as server:
        async with unit_of_work(server.services.sessionmaker) as session:
            channels = await ensure_demo_channels(session)
        async with unit_of_work(server.services.sessionmaker) as session:
            again = await ensure_demo_channels(session)
        assert {c.id for c in again.values()} == {c.id for c in channels.values()}

        counts = await replay(
            server.url, channels, pause_s=0, shitstorm_size=10, echo=lambda _: None
        )
        assert counts == {"everyday": len(EVERYDAY), "shitstorm": 10, "critical": 1}
        async with server.services.sessionmaker() as session:
            messages = (await session.execute(sa.text("SELECT count(*) FROM message"))).scalar()
            critical = (
                await session.execute(
                    sa.text("SELECT count(*) FROM message WHERE text = :t"), {"t": CRITICAL}
                )
            ).scalar()
            platforms = {
                p
                for (p,) in await session.execute(
                    sa.text("SELECT DISTINCT platform FROM conversation")
                )
            }
        assert messages == len(EVERYDAY) + 11 and critical == 1
        assert "facebook" in platforms and len(platforms) >= 3
