import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from triage import cli
from triage.model import CATEGORIES, tiny_random_triager


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(cli, "_triager_factory", lambda: tiny_random_triager(0))


def test_score_round_trip(tiny) -> None:
    lines = [
        {"id": "a", "text": "Euer Babybrei hat meinen Sohn ins Krankenhaus gebracht"},
        {"id": 2, "text": "What time do you open?", "language": "en", "author_followers": 48000},
        {"id": "c", "text": "ok"},
    ]
    stdin = "\n".join(json.dumps(x) for x in lines) + "\n\n"
    res = CliRunner().invoke(cli.triage_app, ["score"], input=stdin)
    assert res.exit_code == 0, res.output
    out = [json.loads(x) for x in res.output.splitlines()]
    assert [o["id"] for o in out] == ["a", 2, "c"]
    for o in out:
        assert {
            "id",
            "urgency",
            "categories",
            "sentiment",
            "language",
            "reasons",
            "model_version",
        } <= set(o)
        assert set(o["categories"]) == set(CATEGORIES)
    assert out[0]["language"] == "de"
    assert "author has 48k followers" in out[1]["reasons"]


def test_score_reports_bad_lines_and_continues(tiny) -> None:
    stdin = 'not json\n{"id": 1}\n{"id": 2, "text": "hi"}\n'
    res = CliRunner().invoke(cli.triage_app, ["score", "--batch-size", "2"], input=stdin)
    assert res.exit_code == 0, res.output
    out = [json.loads(x) for x in res.output.splitlines()]
    assert "error" in out[0] and out[0]["line"] == 1 and out[0]["id"] is None
    assert out[1]["id"] == 1 and "error" in out[1]
    assert out[2]["id"] == 2 and "urgency" in out[2]


def test_eval_prints_per_category_metrics(tiny, tmp_path: Path) -> None:
    csv_path = tmp_path / "eval.csv"
    csv_path.write_text(
        "text,safety,legal,urgency\n"
        "Mein Kind ist verletzt,1,0,90\n"
        "Mein Anwalt meldet sich,0,1,80\n"
        "Wann öffnet ihr?,0,0,5\n"
    )
    res = CliRunner().invoke(cli.triage_app, ["eval", "--data", str(csv_path), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["n"] == 3
    assert set(report["categories"]) == {"safety", "legal"}
    assert {"spearman", "ndcg@3", "precision@3", "mae"} == set(report["urgency"])
    res = CliRunner().invoke(cli.triage_app, ["eval", "--data", str(csv_path)])
    assert res.exit_code == 0
    assert "precision" in res.output and "spearman" in res.output


def test_eval_accepts_a_categories_column(tiny, tmp_path: Path) -> None:
    csv_path = tmp_path / "eval.csv"
    csv_path.write_text('text,categories\n"a",safety|legal\n"b",\n')
    res = CliRunner().invoke(cli.triage_app, ["eval", "--data", str(csv_path), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["categories"]["safety"]["support"] == 1


def test_eval_missing_file(tiny, tmp_path: Path) -> None:
    res = CliRunner().invoke(cli.triage_app, ["eval", "--data", str(tmp_path / "nope.csv")])
    assert res.exit_code != 0
