"""The incidents API on SQLite and PostgreSQL: the list (open first, by severity), the detail
with its timeline, notes, owner and severity, attaching and detaching."""

from __future__ import annotations

from typing import Any

from tests.conftest import Running
from tests.escalation.conftest import Staff, ids
from tests.escalation.support import rows, store_and_process
from tests.helpers import add_channel, bearer, count_rows


async def test_list_order_filters_and_pages(app: Running, staff: Staff) -> None:
    client, pr = app.client, bearer(staff.pr)
    created = {}
    for title, severity in [("a", "low"), ("b", "critical"), ("c", "high"), ("d", "critical")]:
        response = await client.post(
            "/api/v1/incidents", json={"title": title, "severity": severity}, headers=pr
        )
        assert response.status_code == 201, response.text
        created[title] = response.json()["id"]
    await client.post(f"/api/v1/incidents/{created['d']}/acknowledge", headers=pr)
    await client.post(f"/api/v1/incidents/{created['c']}/resolve", headers=pr)

    everything = await client.get("/api/v1/incidents", headers=pr)
    assert ids(everything) == [created[t] for t in ("b", "a", "d", "c")]
    open_ones = await client.get("/api/v1/incidents", params={"status": "open"}, headers=pr)
    assert ids(open_ones) == [created["b"], created["a"]]
    critical = await client.get(
        "/api/v1/incidents", params={"severity": ["critical", "high"]}, headers=pr
    )
    assert ids(critical) == [created["b"], created["d"], created["c"]]
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/incidents", params=params, headers=pr)).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids(everything)
    bad = await client.get("/api/v1/incidents", params={"cursor": "garbage"}, headers=pr)
    assert bad.status_code == 422
    assert (await client.get("/api/v1/incidents/999999", headers=pr)).status_code == 404


async def test_detail_timeline_notes_owner_attach_detach(app: Running, staff: Staff) -> None:
    client, services, pr = app.client, app.services, bearer(staff.pr)
    channel = await add_channel(services, "facebook", secret="s")
    first = await store_and_process(services, channel, "Mein Anwalt meldet sich", thread="t1")
    second = await store_and_process(services, channel, "Ich auch, mit Anwalt", thread="t1")
    other = await store_and_process(services, channel, "Preis zu hoch", thread="t2")
    opened = await client.post(
        "/api/v1/incidents", json={"title": "Rechtsstreit", "message_ids": [first]}, headers=pr
    )
    incident_id = opened.json()["id"]
    assert opened.json()["message_count"] == 1 and len(opened.json()["conversations"]) == 1
    url = f"/api/v1/incidents/{incident_id}"

    before = await count_rows(services, "incident_message", "incident_event")
    refused = await client.post(
        f"{url}/messages", json={"message_ids": [second, 10**12]}, headers=pr
    )
    assert refused.status_code == 422
    assert await count_rows(services, "incident_message", "incident_event") == before

    attached = await client.post(
        f"{url}/messages", json={"message_ids": [second, first]}, headers=pr
    )
    assert attached.json()["message_count"] == 2
    assert [m["id"] for m in attached.json()["messages"]] == [first, second]
    conversation_of_other = (await client.get(f"/api/v1/messages/{other}", headers=pr)).json()[
        "conversation_id"
    ]
    with_conversation = await client.post(
        f"{url}/conversations", json={"conversation_ids": [conversation_of_other]}, headers=pr
    )
    assert len(with_conversation.json()["conversations"]) == 2
    noted = await client.post(f"{url}/notes", json={"text": "Anwalt angerufen"}, headers=pr)
    assert noted.status_code == 201
    changed = await client.patch(
        url,
        json={"severity": "critical", "owner_id": staff.admin_id, "title": "Klage angedroht"},
        headers=pr,
    )
    body = changed.json()
    assert body["severity"] == "critical" and body["owner_id"] == staff.admin_id
    assert body["title"] == "Klage angedroht"
    no_owner = await client.patch(url, json={"owner_id": 4242}, headers=pr)
    assert no_owner.status_code == 422

    detached = await client.delete(f"{url}/messages/{first}", headers=pr)
    assert detached.json()["message_count"] == 1
    assert (await client.delete(f"{url}/messages/{first}", headers=pr)).status_code == 404
    conversation_of_first = attached.json()["messages"][0]["conversation_id"]
    gone = await client.delete(f"{url}/conversations/{conversation_of_first}", headers=pr)
    assert gone.json()["message_count"] == 0
    assert [c["id"] for c in gone.json()["conversations"]] == [conversation_of_other]

    timeline = gone.json()["timeline"]
    kinds = [e["kind"] for e in timeline]
    assert kinds == [
        "incident.opened",
        "message.attached",
        "message.attached",
        "conversation.attached",
        "note",
        "owner.changed",
        "severity.changed",
        "title.changed",
        "message.detached",
        "conversation.detached",
    ]
    note = timeline[4]
    assert note["actor"] == f"user:{staff.pr_id}" and note["data"] == {"text": "Anwalt angerufen"}
    assert timeline[6]["data"] == {"from": "high", "to": "critical"}
    events = [r["type"] for r in await rows(services, "SELECT type FROM event ORDER BY id")]
    assert events.count("incident.opened") == 1
    assert events.count("incident.updated") == 7  # one per request that changed something
