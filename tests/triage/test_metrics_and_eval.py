from pathlib import Path

import pytest

from triage.cli import evaluate_file
from triage.metrics import macro_f1, ndcg_at_k, precision_at_k, prf, spearman
from triage.model import TriageInput, TriageResult
from triage.urgency import CATEGORIES


def test_prf_known_values() -> None:
    m = prf([1, 1, 0, 0, 1], [1, 0, 0, 1, 1])
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["support"] == 3
    assert prf([0, 0], [0, 0])["f1"] == 0.0


def test_macro_f1() -> None:
    # class 1: P=1, R=.5, F1=2/3 ; class 0: P=2/3, R=1, F1=.8
    assert macro_f1([1, 1, 0, 0], [1, 0, 0, 0]) == pytest.approx((2 / 3 + 0.8) / 2)


def test_spearman() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3], [1, 1, 1]) == 0.0


def test_ndcg_and_precision_at_k() -> None:
    rel = [3, 2, 1, 0]
    assert ndcg_at_k(rel, [0.9, 0.8, 0.7, 0.1], 2) == pytest.approx(1.0)
    assert ndcg_at_k(rel, [0.1, 0.2, 0.3, 0.9], 4) < 1.0
    assert precision_at_k([True, False, True, False], [0.9, 0.8, 0.7, 0.1], 2) == 0.5


class FixedTriager:
    """Answers from a table: known predictions give known metrics."""

    model_version = "fixed"

    def __init__(self, table: dict[str, tuple[int, dict[str, float]]]) -> None:
        self.table = table

    def score(self, items: list[TriageInput]) -> list[TriageResult]:
        out = []
        for it in items:
            urgency, cats = self.table[it.text]
            full = dict.fromkeys(CATEGORIES, 0.0) | cats
            out.append(TriageResult(urgency, full, "neutral", {}, "en", [], "fixed"))
        return out


def test_eval_on_hand_made_csv(tmp_path: Path) -> None:
    p = tmp_path / "gold.csv"
    p.write_text("text,safety,legal,urgency\na,1,1,95\nb,1,0,80\nc,0,0,10\nd,0,1,60\n")
    triager = FixedTriager(
        {
            "a": (97, {"safety": 0.9, "legal": 0.9}),
            "b": (70, {"safety": 0.2}),  # safety missed
            "c": (5, {"safety": 0.7}),  # safety false positive
            "d": (65, {"legal": 0.8}),
        }
    )
    rep = evaluate_file(triager, p, threshold=0.5, k=2)
    s = rep["categories"]["safety"]
    assert (s["precision"], s["recall"], s["f1"]) == pytest.approx((0.5, 0.5, 0.5))
    legal = rep["categories"]["legal"]
    assert (legal["precision"], legal["recall"], legal["f1"]) == pytest.approx((1.0, 1.0, 1.0))
    assert rep["urgency"]["spearman"] == pytest.approx(1.0)
    assert rep["urgency"]["ndcg@2"] == pytest.approx(1.0)
    assert rep["urgency"]["precision@2"] == pytest.approx(1.0)
    assert rep["urgency"]["mae"] == pytest.approx((2 + 10 + 5 + 5) / 4)
