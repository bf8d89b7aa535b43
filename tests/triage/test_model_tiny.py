import json

import pytest

from triage.model import CATEGORIES, TriageInput, TriageResult, tiny_random_triager


@pytest.fixture(scope="module")
def triager():
    return tiny_random_triager(seed=0)


def test_score_shapes_and_keys(triager) -> None:
    items = [
        TriageInput("Euer Babybrei hat meinen Sohn ins Krankenhaus gebracht", "de"),
        TriageInput("What time do you open on Saturday?"),
        TriageInput("", author_followers=48_000),
    ]
    results = triager.score(items)
    assert len(results) == 3
    for r in results:
        assert isinstance(r, TriageResult)
        assert set(r.categories) == set(CATEGORIES)
        assert all(0.0 <= p <= 1.0 for p in r.categories.values())
        assert 0 <= r.urgency <= 100
        assert r.sentiment in ("negative", "neutral", "positive")
        assert set(r.sentiment_scores) == {"negative", "neutral", "positive"}
        assert r.reasons
        assert r.model_version == "tiny-random-0"
    assert results[0].language == "de"
    assert results[1].language == "en"
    assert "author has 48k followers" in results[2].reasons


def test_empty_batch(triager) -> None:
    assert triager.score([]) == []


def test_batching_does_not_change_results(triager) -> None:
    texts = [f"message number {i} " + "word " * (i % 7) for i in range(40)]
    together = triager.score([TriageInput(t) for t in texts])
    alone = [triager.score([TriageInput(t)])[0] for t in texts[:5]]
    for a, b in zip(alone, together[:5], strict=True):
        assert a.urgency == b.urgency
        for c in CATEGORIES:
            assert a.categories[c] == pytest.approx(b.categories[c], abs=1e-3)


def test_deterministic_for_a_seed() -> None:
    a = tiny_random_triager(3).score([TriageInput("hello")])[0]
    b = tiny_random_triager(3).score([TriageInput("hello")])[0]
    assert a == b


def test_to_dict_is_json(triager) -> None:
    d = triager.score([TriageInput("Hallo")])[0].to_dict()
    assert set(d) == {
        "urgency",
        "categories",
        "sentiment",
        "sentiment_scores",
        "language",
        "reasons",
        "model_version",
    }
    json.dumps(d)


def test_reach_raises_urgency_through_the_model(triager) -> None:
    plain = triager.score([TriageInput("Where is my parcel?")])[0]
    famous = triager.score([TriageInput("Where is my parcel?", author_followers=2_000_000)])[0]
    assert famous.urgency > plain.urgency
    assert any("2M followers" in r for r in famous.reasons)


def test_a_head_ensemble_averages_its_members_and_survives_a_round_trip(tmp_path) -> None:
    import torch

    from triage.model import SERVICE_TASKS, HeadEnsemble, TriageHeads, load_heads, save_heads

    torch.manual_seed(3)
    members = [TriageHeads(8, 4, SERVICE_TASKS).eval() for _ in range(3)]
    ensemble = HeadEnsemble(members).eval()
    x = torch.randn(5, 8)
    with torch.no_grad():
        outs = [m(x) for m in members]
        got = ensemble(x)
        for task in SERVICE_TASKS:
            expected = sum(o[task] for o in outs) / 3
            assert torch.allclose(got[task], expected, atol=1e-6)
            assert not torch.allclose(outs[0][task], outs[1][task])  # members do differ

    save_heads(ensemble, {"pool_layers": [-1]}, tmp_path)
    loaded, meta = load_heads(tmp_path)
    assert meta["members"] == 3 and isinstance(loaded, HeadEnsemble)
    with torch.no_grad():
        again = loaded(x)
    for task in SERVICE_TASKS:  # stored as float16
        assert torch.allclose(again[task], got[task], atol=1e-2)
