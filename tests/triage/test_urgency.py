import pytest

from triage.urgency import (
    CATEGORIES,
    category_urgency,
    compose_urgency,
    explain,
    format_followers,
    model_urgency,
    reach_bonus,
)


def cats(**kw: float) -> dict[str, float]:
    base = dict.fromkeys(CATEGORIES, 0.0)
    base.update(kw)
    return base


def test_category_formula_orders_what_matters() -> None:
    critical = category_urgency(cats(safety=0.95, legal=0.9))
    complaint = category_urgency(cats(complaint=0.9))
    question = category_urgency(cats(question=0.95))
    praise = category_urgency(cats(praise=0.99))
    assert critical > 0.95
    assert critical > complaint > question > praise == 0.0


def test_praise_damps_the_learned_urgency() -> None:
    assert model_urgency(cats(praise=1.0), learned_urgency=0.2) < 0.1


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (950, "950"),
        (1_000, "1k"),
        (48_000, "48k"),
        (48_499, "48k"),
        (1_500, "1.5k"),
        (1_000_000, "1M"),
        (1_250_000, "1.2M"),
        (25_000_000, "25M"),
    ],
)
def test_format_followers(n: int, text: str) -> None:
    assert format_followers(n) == text


class TestReachRule:
    def test_no_bonus_for_small_or_unknown_accounts(self) -> None:
        assert reach_bonus(None, 0.5) == (0.0, None)
        assert reach_bonus(9_999, 0.5) == (0.0, None)

    def test_bonus_grows_with_reach_and_is_capped(self) -> None:
        b10k, _ = reach_bonus(10_000, 1.0)
        b48k, reason = reach_bonus(48_000, 1.0)
        b1m, _ = reach_bonus(1_000_000, 1.0)
        b1b, _ = reach_bonus(1_000_000_000, 1.0)
        assert b10k == pytest.approx(5.0)
        assert b10k < b48k < b1m
        assert b1m == pytest.approx(15.0)
        assert b1b == pytest.approx(15.0)
        assert reason == "author has 48k followers"

    def test_bonus_is_smaller_for_harmless_messages(self) -> None:
        low, _ = reach_bonus(1_000_000, 0.0)
        high, _ = reach_bonus(1_000_000, 1.0)
        assert low == pytest.approx(6.0)
        assert high == pytest.approx(15.0)

    def test_compose_applies_reach_and_says_so(self) -> None:
        c = cats(complaint=0.9)
        base, reasons = compose_urgency("Still waiting for my refund", c, learned_urgency=0.45)
        raised, reasons2 = compose_urgency(
            "Still waiting for my refund", c, learned_urgency=0.45, author_followers=48_000
        )
        assert raised > base
        assert "author has 48k followers" in reasons2
        assert not any("followers" in r for r in reasons)


def test_urgency_is_bounded() -> None:
    u, _ = compose_urgency(
        "x", dict.fromkeys(CATEGORIES, 1.0), learned_urgency=1.0, author_followers=10**9
    )
    assert u == 100
    u, reasons = compose_urgency("x", cats(), learned_urgency=0.0)
    assert u == 0
    assert reasons == ["nothing urgent detected"]


def test_reasons_name_injury_and_lawyer() -> None:
    text = "Euer Babybrei hat meinen Sohn ins Krankenhaus gebracht, mein Anwalt meldet sich"
    reasons = explain(text, cats(safety=0.97, legal=0.93, complaint=0.6))
    assert reasons[0].startswith("mentions ")
    assert "health" in reasons[0]
    assert "a lawyer" in reasons[0]
    assert "a safety or health incident" in reasons[1]
    assert "a legal threat" in reasons[1]


def test_reasons_in_english_text() -> None:
    reasons = explain(
        "My kid was injured by your toy, I am calling my lawyer", cats(safety=0.9, legal=0.9)
    )
    assert "an injury" in reasons[0]
    assert "a lawyer" in reasons[0]
