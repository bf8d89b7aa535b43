"""``LEITSTAND_TRIAGE_MODEL``: any local transformers folder, here a tiny random BERT with
a WordPiece tokenizer saved by ``save_pretrained`` (no network, milliseconds)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from app.main import load_default_triager
from app.settings import Settings
from tests.triage.test_train import write_tiny_data
from triage import cli
from triage.model import (
    CATEGORIES,
    SERVICE_TASKS,
    ModelFolderError,
    TriageHeads,
    TriageInput,
    load_triager,
    save_heads,
)

WORDS = [
    "mein",
    "sohn",
    "ist",
    "im",
    "krankenhaus",
    "anwalt",
    "wann",
    "öffnet",
    "ihr",
    "my",
    "son",
    "is",
    "in",
    "hospital",
    "lawyer",
    "when",
    "do",
    "you",
    "open",
    "thanks",
    "great",
]


def save_tiny_model(folder: Path, *, heads: bool) -> Path:
    """A tiny BertModel and its tokenizer as an operator's downloaded folder would hold
    them; with ``heads``, also heads trained for it (random here)."""
    from transformers import BertConfig, BertModel, BertTokenizer

    folder.mkdir(parents=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    BertTokenizer(str(vocab)).save_pretrained(str(folder))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=5 + len(WORDS),
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config, add_pooling_layer=False).save_pretrained(str(folder))
    if heads:
        save_heads(TriageHeads(64, 16, SERVICE_TASKS), {"pool_layers": [-2, -1]}, folder)
    return folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("operator") / "tiny-bert", heads=True)


@pytest.fixture(scope="module")
def bare_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("operator") / "tiny-bert-bare", heads=False)


def _check(results: list, version_prefix: str) -> None:
    for r in results:
        assert set(r.categories) == set(CATEGORIES)
        assert all(0.0 <= p <= 1.0 for p in r.categories.values())
        assert 0 <= r.urgency <= 100
        assert set(r.sentiment_scores) == {"negative", "neutral", "positive"}
        assert r.reasons
        assert r.model_version.startswith(version_prefix)


def test_a_folder_with_its_own_heads_loads_and_scores(model_dir: Path) -> None:
    triager = load_triager(model_path=model_dir, bf16=False)
    results = triager.score(
        [
            TriageInput("Mein Sohn ist im Krankenhaus, Anwalt!", "de"),
            TriageInput("When do you open?", author_followers=48_000),
        ]
    )
    _check(results, "tiny-bert+heads-")
    assert results[0].language == "de"
    assert "author has 48k followers" in results[1].reasons
    # the folder's own tokenizer (WordPiece, via AutoTokenizer) is what is used
    encoder = triager.encoder  # type: ignore[attr-defined]
    ids = encoder.tokenize(["krankenhaus"])["input_ids"][0].tolist()
    assert ids[0] == 2 and 5 + WORDS.index("krankenhaus") in ids


def test_the_setting_reaches_the_service_and_the_cli(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEITSTAND_TRIAGE_MODEL", str(model_dir))
    monkeypatch.setenv("LEITSTAND_TRIAGE_BF16", "0")
    settings = Settings(environment="test")
    assert settings.triage_model == str(model_dir)
    triager = load_default_triager(settings)
    _check(triager.score([TriageInput("Danke!")]), "tiny-bert+heads-")

    res = CliRunner().invoke(cli.triage_app, ["score"], input='{"id": 1, "text": "hallo"}\n')
    assert res.exit_code == 0, res.output
    (row,) = [json.loads(line) for line in res.output.splitlines()]
    assert row["id"] == 1 and set(row["categories"]) == set(CATEGORIES)
    assert row["model_version"].startswith("tiny-bert+heads-")


def test_a_folder_without_heads_uses_heads_from_artifacts_dir(
    bare_model_dir: Path, model_dir: Path
) -> None:
    triager = load_triager(model_path=bare_model_dir, artifacts_dir=model_dir, bf16=False)
    _check(triager.score([TriageInput("hello")]), "tiny-bert-bare+heads-")


def test_heads_of_another_size_are_a_clear_error(bare_model_dir: Path) -> None:
    # the committed heads were trained on multilingual-e5-small (384 x 2 features)
    with pytest.raises(ModelFolderError) as exc:
        load_triager(model_path=bare_model_dir, bf16=False)
    message = str(exc.value)
    assert "expect 768-dim features" in message and "gives 64" in message
    assert f"leitstand triage train --model-path {bare_model_dir}" in message


def test_train_writes_heads_into_the_model_folder(tmp_path: Path) -> None:
    folder = save_tiny_model(tmp_path / "downloaded", heads=False)
    data = write_tiny_data(tmp_path / "data")
    args = ["train", "--model-path", str(folder), "--data-dir", str(data), "--epochs", "1"]
    res = CliRunner().invoke(cli.triage_app, [*args, "--threads", "1"])
    assert res.exit_code == 0, res.output
    assert f"artifact written to {folder}" in res.output
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["encoder"] == "downloaded"
    triager = load_triager(model_path=folder, bf16=False)
    _check(triager.score([TriageInput("Mein Anwalt meldet sich")]), "downloaded+heads-")


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({}, "is not a transformers model folder"),
        ({"config.json": '{"foo": 1}'}, "does not load as a transformers model"),
        ({"config.json": '{"model_type": "bert"}'}, "does not load as a transformers model"),
        ({"weights.bin": "xx"}, "is not a transformers model folder"),
    ],
)
def test_a_folder_that_is_not_a_model_is_a_clear_error(
    tmp_path: Path, model_dir: Path, files: dict[str, str], expected: str
) -> None:
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    with pytest.raises(ModelFolderError, match=expected) as exc:
        load_triager(model_path=folder, artifacts_dir=model_dir, bf16=False)
    assert str(folder) in str(exc.value)


def test_the_cli_names_the_setting_when_the_folder_is_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEITSTAND_TRIAGE_MODEL", str(tmp_path / "nowhere"))
    res = CliRunner().invoke(cli.triage_app, ["score"], input='{"text": "x"}\n')
    assert res.exit_code == 2
    words = " ".join(res.output.replace("│", " ").split())
    assert "LEITSTAND_TRIAGE_MODEL" in words and "is not a transformers model" in words
