"""The baseline for ``bench/ingest.py``: a bare FastAPI endpoint that does nothing.

Same path shape as the real webhook (``POST /webhooks/{channel_id}``) so routing costs the
same; it neither reads nor checks the body and answers a small JSON object.
"""

from __future__ import annotations

from fastapi import FastAPI, Response

app = FastAPI()


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/webhooks/{channel_id}")
async def webhook(channel_id: str) -> Response:
    return Response(content=b"{}", media_type="application/json")
