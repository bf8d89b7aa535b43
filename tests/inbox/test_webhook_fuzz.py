"""Arbitrary, correctly signed bodies through the real endpoint: never a 5xx, and a refused
request changes nothing."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import make_settings, serve
from tests.helpers import add_channel, count_rows, meta_headers, standard_headers

TABLES = ("message", "conversation", "author")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
meta_like = st.fixed_dictionaries(
    {
        "object": st.sampled_from(["page", "instagram", "whatsapp_business_account", "user"]),
        "entry": st.lists(
            st.fixed_dictionaries(
                {
                    "id": st.one_of(st.text(max_size=8), st.integers()),
                    "time": st.one_of(st.integers(), st.text(max_size=5)),
                },
                optional={
                    "changes": st.lists(
                        st.fixed_dictionaries(
                            {
                                "field": st.sampled_from(["feed", "messages", "comments", "x"]),
                                "value": json_values,
                            }
                        ),
                        max_size=3,
                    ),
                    "messaging": st.lists(json_values, max_size=3),
                },
            ),
            max_size=3,
        ),
    }
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    meta_like.map(lambda v: json.dumps(v).encode()),
)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(meta_body=bodies, generic_body=bodies)
async def test_signed_arbitrary_bodies_never_cause_a_5xx(
    sqlite_url: str, meta_body: bytes, generic_body: bytes
) -> None:
    async with serve(make_settings(sqlite_url), run_worker=False) as r:
        fb = await add_channel(r.services, "facebook", secret="s")
        generic = await add_channel(r.services, "standard-webhooks")
        for channel_id, body, headers in (
            (fb.id, meta_body, meta_headers("s", meta_body)),
            (generic.id, generic_body, standard_headers(generic.secret, generic_body)),
        ):
            before = await count_rows(r.services, *TABLES)
            response = await r.client.post(f"/webhooks/{channel_id}", content=body, headers=headers)
            assert response.status_code < 500, response.text
            if response.status_code >= 400:
                assert await count_rows(r.services, *TABLES) == before
