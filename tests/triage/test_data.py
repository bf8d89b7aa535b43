import json
from pathlib import Path

import numpy as np
import pytest

from triage import data as D
from triage.encoder import _dequant_q4_0
from triage.train import benign_label, concern_label, mixed_inbox_check


def test_own_labelled_set_is_large_and_valid() -> None:
    own = D.load_own()
    langs = [ex.language for ex in own]
    assert langs.count("de") >= 100
    assert langs.count("en") >= 100
    for ex in own:
        assert 0.0 <= ex.labels["urg"] <= 1.0
        assert "sent" in ex.labels
    covered = {c for ex in own for c in D.CATEGORIES if ex.labels.get(f"cat:{c}") == 1}
    assert covered == set(D.CATEGORIES)


def test_own_heldout_split_is_deterministic() -> None:
    a, b = D.load_own(), D.load_own()
    D.own_split(a, seed=13)
    D.own_split(b, seed=13)
    assert [x.split for x in a] == [x.split for x in b]
    held = sum(1 for x in a if x.split == "dev")
    assert 0.1 * len(a) < held < 0.45 * len(a)


def test_dev_split_keeps_duplicates_together() -> None:
    exs = [D.Example("RT @a: Flood in town http://x.y", "s"), D.Example("flood in town!", "s")]
    D.assign_split(exs, seed=1, dev_percent=50)
    assert exs[0].split == exs[1].split


def test_corrections_jsonl(tmp_path: Path) -> None:
    p = tmp_path / "corr.jsonl"
    p.write_text(
        json.dumps({"text": "Mein Kind ist verletzt", "urgency": 95, "categories": ["safety"]})
        + "\n\n"
        + json.dumps({"text": "Nur eine Frage", "categories": []})
        + "\n"
        + json.dumps({"text": "urgency only", "urgency": 12})
        + "\n"
    )
    ex = D.load_corrections(p)
    assert len(ex) == 3
    assert ex[0].labels["urg"] == pytest.approx(0.95)
    assert ex[0].labels["cat:safety"] == 1 and ex[0].labels["cat:legal"] == 0
    assert ex[1].labels["cat:safety"] == 0 and "urg" not in ex[1].labels
    assert "cat:safety" not in ex[2].labels
    assert all(e.source == "corrections" for e in ex)


def test_corrections_reject_unknown_category(tmp_path: Path) -> None:
    p = tmp_path / "corr.jsonl"
    p.write_text(json.dumps({"text": "x", "categories": ["nonsense"]}) + "\n")
    with pytest.raises(ValueError, match="unknown categories"):
        D.load_corrections(p)


def test_corrections_csv(tmp_path: Path) -> None:
    p = tmp_path / "corr.csv"
    p.write_text('text,urgency,categories\n"Anwalt!",80,legal|complaint\n')
    (ex,) = D.load_corrections(p)
    assert ex.labels["cat:legal"] == 1 and ex.labels["urg"] == pytest.approx(0.8)


def test_q4_0_dequantisation() -> None:
    d = np.array([0.5], dtype=np.float16).tobytes()
    q = list(range(16))  # low nibble = j, high nibble = 15 - j
    qs = bytes((j & 0x0F) | ((15 - j) << 4) for j in q)
    w = _dequant_q4_0(d + qs, 32)
    assert w[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert w[16:].tolist() == [(15 - j - 8) * 0.5 for j in range(16)]


def test_mixed_inbox_check_counts() -> None:
    exs = [
        D.Example("bad", "complaints", {"complaint": 1}),
        D.Example("nice", "own", {"cat:praise": 1}),
        D.Example("meh", "crisislex_t6", {"crisis_topic": 0}),
        D.Example("quake", "crisislex_t26", {"crisis_info": 1}),
    ]
    assert concern_label(exs[0]) == "complaint"
    assert benign_label(exs[1]) == "praise"
    rep = mixed_inbox_check([80, 2, 10, 70], exs, top=2)
    assert rep["top2_concerning"] == 2
    assert rep["mean_urgency_praise_spam_offtopic"] == pytest.approx(6.0)
    assert rep["mean_urgency_rest"] == pytest.approx(75.0)
