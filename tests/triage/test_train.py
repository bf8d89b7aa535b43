"""``leitstand triage train`` on a tiny copy of the public-data layout with a tiny random
encoder: seeded and reproducible, per-task dev metrics printed, corrections trained on."""

from __future__ import annotations

import csv
import hashlib
import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

import triage.train
from triage import cli
from triage import data as D
from triage.model import HEADS_FILE, META_FILE, TextEncoder, load_heads, tiny_random_encoder
from triage.train import TrainConfig, run_training

ROWS_PER_SET = 40
SEED = 13


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def write_tiny_data(root: Path) -> Path:
    """Every public set ``triage.data.load_public`` reads, with its real columns."""
    rng = random.Random(0)
    bad = ["broken", "terrible", "idiot", "flood", "hurt"]
    good = ["thanks", "lovely", "weather", "coffee", "music"]

    def text(i: int, positive: int, prefix: str) -> str:
        words = bad if positive else good
        return f"{prefix} {i} {rng.choice(words)} {rng.choice(words)} {rng.choice(good)}"

    n = ROWS_PER_SET
    _write_csv(
        root / "complaints-preotiuc2019" / "train.csv",
        ["tweet_id", "text", "complaint", "domain"],
        [[f"c{i}", text(i, i % 2, "parcel"), i % 2, "retail"] for i in range(n)],
    )
    _write_csv(
        root / "germeval2021-toxic-engaging-factclaiming" / "train.csv",
        ["comment_id", "text", "toxic", "engaging", "fact_claiming"],
        [[i, text(i, i % 2, "kommentar"), i % 2, (i // 2) % 2, (i // 3) % 2] for i in range(n)],
    )
    _write_csv(
        root / "germeval2018-offensive" / "train.csv",
        ["row_id", "text", "coarse", "fine"],
        [
            [i, text(i, i % 2, "tweet|LBR|zeile"), "OFFENSE" if i % 2 else "OTHER", "ABUSE"]
            for i in range(n)
        ],
    )
    _write_csv(
        root / "olid-offenseval2019" / "train.csv",
        ["id", "text", "subtask_a", "subtask_b", "subtask_c"],
        [
            [i, text(i, i % 2, "@USER post"), "OFF" if i % 2 else "NOT", "TIN" if i % 4 else "NULL"]
            for i in range(n)
        ],
    )
    _write_csv(
        root / "crisislex-t26" / "train.csv",
        [
            "tweet_id",
            "text",
            "event",
            "event_type",
            "informativeness",
            "information_type",
            "information_source",
            "lang_guess",
        ],
        [
            [
                f"t26-{i}",
                text(i, i % 2, "storm"),
                "ev",
                "flood",
                "Related and informative" if i % 2 else "Not related",
                D.CRISIS_TYPES[i % len(D.CRISIS_TYPES)],
                "media",
                "en",
            ]
            for i in range(n)
        ],
    )
    _write_csv(
        root / "crisislex-t6" / "train.csv",
        ["tweet_id", "text", "event", "label", "lang_guess"],
        [
            [f"t6-{i}", text(i, i % 2, "quake"), "ev", "on-topic" if i % 2 else "off-topic", "en"]
            for i in range(n)
        ],
    )
    return root


def write_tiny_own(path: Path) -> Path:
    rows: list[list[object]] = [
        ["Euer Babybrei hat meinen Sohn ins Krankenhaus", "de", "safety", 97, "negative", "p000"],
        ["Your baby food put my son in hospital", "en", "safety", 97, "negative", "p000"],
    ]
    kinds = [
        ("question", 10, "neutral", "Wann öffnet ihr am Samstag {i}?"),
        ("praise", 5, "positive", "Thank you, great service {i}"),
        ("legal|complaint", 80, "negative", "My lawyer will contact you about order {i}"),
        ("outage", 70, "negative", "App is down again since {i} hours"),
    ]
    for i in range(24):
        cats, urg, sent, tpl = kinds[i % len(kinds)]
        rows.append([tpl.format(i=i), "en", cats, urg, sent, f"q{i:03d}"])
    _write_csv(path, ["text", "language", "categories", "urgency", "sentiment", "pair"], rows)
    return path


def correction_text(seed: int, dev_percent: int) -> str:
    """A text the public-set split would put on the dev side: only the rule "corrections
    always train" keeps it in training."""
    for i in range(1000):
        text = f"Eure Rückrufaktion {i}: mein Kind hat sich verbrannt, der Anwalt ist informiert"
        if D.bucket(text, seed) < dev_percent:
            return text
    raise AssertionError("no text found")


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return tiny_random_encoder(seed=1, num_layers=4)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_data(tmp_path_factory.mktemp("public"))


@pytest.fixture(scope="module")
def own_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_own(tmp_path_factory.mktemp("own") / "own.csv")


@pytest.fixture
def corrections(tmp_path: Path) -> Path:
    path = tmp_path / "corrections.jsonl"
    records = [
        {
            "text": correction_text(SEED, 15),
            "urgency": 95,
            "categories": ["safety", "legal"],
            "sentiment": "negative",
        },
        {"text": "Nur eine Frage zur Rechnung", "categories": ["question"]},
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n")
    return path


def _config(data_dir: Path, own_path: Path, out_dir: Path, **kw: object) -> TrainConfig:
    values: dict = {
        "data_dir": data_dir,
        "own_path": own_path,
        "out_dir": out_dir,
        "feature_cache": out_dir / "feature-cache",
        "seed": SEED,
        "epochs": 3,
        "hidden": 32,
        "batch_size": 64,
        "own_repeat": 2,
        "threads": 1,
    }
    values.update(kw)
    return TrainConfig(**values)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_gives_the_same_metrics_and_artifact(
    tmp_path: Path, data_dir: Path, own_path: Path, encoder: TextEncoder
) -> None:
    runs = []
    for name, seed in (("a", SEED), ("b", SEED), ("c", SEED + 1)):
        out = tmp_path / name
        cfg = _config(data_dir, own_path, out, seed=seed)
        metrics = run_training(cfg, encoder=encoder, log=False)
        runs.append((metrics, out))
    (m_a, out_a), (m_b, out_b), (_, out_c) = runs
    assert m_a == m_b
    assert (out_a / HEADS_FILE).read_bytes() == (out_b / HEADS_FILE).read_bytes()
    assert (out_a / META_FILE).read_bytes() == (out_b / META_FILE).read_bytes()
    meta = json.loads((out_a / META_FILE).read_text())
    assert meta["heads_sha256"] == _sha(out_a / HEADS_FILE)
    assert meta["encoder"] == "tiny-random"
    assert meta["metrics"] == json.loads(json.dumps(m_a))
    # the artifact loads back as heads of the size the encoder's features give
    heads, _ = load_heads(out_a)
    assert heads.in_dim == encoder.hidden_size * len(meta["pool_layers"])
    # and the seed matters: another one trains other heads
    assert _sha(out_c / HEADS_FILE) != _sha(out_a / HEADS_FILE)
    # the disk feature cache is for the default encoder only
    assert not (out_a / "feature-cache").exists()


def test_corrections_land_in_training_and_change_the_result(
    tmp_path: Path,
    data_dir: Path,
    own_path: Path,
    corrections: Path,
    encoder: TextEncoder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[list[D.Example]] = []
    real_fit = triage.train.fit_heads

    def spy(x, examples, cfg, **kw):  # type: ignore[no-untyped-def]
        seen.append(list(examples))
        return real_fit(x, examples, cfg, **kw)

    monkeypatch.setattr(triage.train, "fit_heads", spy)
    text = correction_text(SEED, 15)

    with_corr = run_training(
        _config(data_dir, own_path, tmp_path / "with", corrections=corrections),
        encoder=encoder,
        log=False,
    )
    (trained,) = seen
    matches = [ex for ex in trained if ex.text == text]
    assert len(matches) == 1
    ex = matches[0]
    assert ex.source == "corrections" and ex.split == "train"
    assert ex.labels["cat:safety"] == 1.0 and ex.labels["cat:legal"] == 1.0
    assert ex.labels["cat:praise"] == 0.0  # the list is complete: the others are negatives
    assert ex.labels["urg"] == pytest.approx(0.95)
    assert "urg" not in next(e for e in trained if e.text == "Nur eine Frage zur Rechnung").labels

    without = run_training(
        _config(data_dir, own_path, tmp_path / "without"), encoder=encoder, log=False
    )
    assert all(e.text != text for e in seen[1])
    assert len(seen[1]) == len(trained) - 2
    assert _sha(tmp_path / "with" / HEADS_FILE) != _sha(tmp_path / "without" / HEADS_FILE)
    assert with_corr != without


def test_cli_train_prints_per_task_dev_metrics(
    tmp_path: Path,
    data_dir: Path,
    corrections: Path,
    encoder: TextEncoder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli, "_encoder_factory", lambda: encoder)
    out = tmp_path / "artifact"
    args = ["train", "--data-dir", str(data_dir), "--out-dir", str(out), "--epochs", "2"]
    args += ["--threads", "1", "--corrections", str(corrections), "--seed", "5"]
    res = CliRunner().invoke(cli.triage_app, args)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].startswith("task") and "dev macro-F1" in lines[0]
    for task in ("complaint", "ge21_toxic", "ge21_fact", "ge18_offense", "olid_off"):
        row = next((line for line in lines if line.startswith(task + " ")), None)
        assert row is not None, (task, res.output)
        f1 = float(row.split()[1])
        assert 0.0 <= f1 <= 1.0
        assert "(n=" in row
    assert "own held-out" in res.output and "mixed inbox" in res.output
    assert f"artifact written to {out}" in res.output
    assert (out / HEADS_FILE).is_file() and (out / META_FILE).is_file()
    meta = json.loads((out / META_FILE).read_text())
    assert meta["seed"] == 5 and meta["config"]["epochs"] == 2
    assert meta["config"]["corrections"] == str(corrections)

    res = CliRunner().invoke(cli.triage_app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output[: res.output.rindex("}") + 1])
    assert set(report["dev_tasks"]) >= {"complaint", "ge21_toxic", "olid_off", "crisis_info"}
    assert all("macro_f1" in m and m["n"] > 0 for m in report["dev_tasks"].values())


def test_cli_train_refuses_a_missing_data_folder(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli.triage_app, ["train", "--data-dir", str(tmp_path / "nope")])
    assert res.exit_code != 0
    words = " ".join(res.output.replace("│", " ").split())
    assert "is not a folder" in words


def test_fine_tuning_the_top_layer_is_reproducible_too(
    tmp_path: Path, data_dir: Path, own_path: Path, encoder: TextEncoder
) -> None:
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        cfg = _config(data_dir, own_path, out, finetune_epochs=1)
        run_training(cfg, encoder=encoder, log=False)
        outs.append(out)
    a, b = outs
    assert (a / "top_layer.safetensors").read_bytes() == (b / "top_layer.safetensors").read_bytes()
    assert (a / HEADS_FILE).read_bytes() == (b / HEADS_FILE).read_bytes()
    meta = json.loads((a / META_FILE).read_text())
    assert meta["top_layer"] == "top_layer.safetensors"
    assert meta["pool_layers"] == [-2, -1]
