"""The int8 ONNX encoder against the torch encoder it is exported from (real weights)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from triage import onnx_encoder as O
from triage.encoder import ensure_encoder
from triage.model import (
    MAX_TOKENS,
    ModelFolderError,
    _fast_tokenizer,
    load_encoder,
    resolve_runtime,
)
from triage.train import CACHED_LAYERS, TrainConfig, feature_cache

TEXTS = [
    "Euer Babybrei hat meinen Sohn ins Krankenhaus gebracht, mein Anwalt meldet sich",
    "Your baby food put my son in hospital, my lawyer will be in touch",
    "ok",
    "Wann öffnet ihr am Samstag? " * 6,
    "Die App ist seit heute Morgen down, ich komme nicht an mein Konto!",
]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def encoders() -> tuple[O.OnnxEncoder, object]:
    path = ensure_encoder()
    torch.set_num_threads(1)
    onnx = O.OnnxEncoder(
        O.ensure_onnx(path),
        _fast_tokenizer(path / "tokenizer.json", MAX_TOKENS),
        hidden_size=384,
        pool_layers=(-2, -1),
        prefix="query: ",
        name=path.name,
    )
    return onnx, load_encoder(path, pool_layers=(-2, -1))


@pytest.mark.slow
def test_int8_embeddings_follow_the_torch_encoder(encoders: tuple) -> None:
    onnx, torch_encoder = encoders
    assert onnx.out_dim == torch_encoder.out_dim == 768
    with torch.inference_mode():
        reference = torch_encoder.embed(TEXTS).numpy()
    batched = onnx.embed(TEXTS).numpy()
    single = np.concatenate([onnx.embed([t]).numpy() for t in TEXTS])
    assert batched.shape == reference.shape
    # padded batches and single messages both stay close to fp32 torch, in both languages
    assert _cosines(batched, reference).min() > 0.98
    assert _cosines(single, reference).min() > 0.98
    # and keep the meaning apart: a German sentence is nearest to its English translation
    sims = batched @ batched.T / np.outer(*[np.linalg.norm(batched, axis=1)] * 2)
    np.fill_diagonal(sims, -1)
    assert int(sims[0].argmax()) == 1 and int(sims[1].argmax()) == 0


@pytest.mark.slow
def test_layers_outside_the_graph_are_refused() -> None:
    path = ensure_encoder()
    with pytest.raises(ValueError, match="not in the exported graph"):
        O.OnnxEncoder(
            O.ensure_onnx(path),
            _fast_tokenizer(path / "tokenizer.json", MAX_TOKENS),
            hidden_size=384,
            pool_layers=(-5,),
            prefix="query: ",
            name="x",
        )


@pytest.mark.slow
def test_the_export_is_stamped_and_redone_when_its_source_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = ensure_encoder()
    built = O.ensure_onnx(path)
    assert O.is_exported(built, path)
    stamp = json.loads((built / O.STAMP_FILE).read_text())
    assert stamp["runtime"] == O.RUNTIME and stamp["layers"] == list(CACHED_LAYERS)
    assert stamp["encoder_build"] == json.loads((path / "leitstand_build.json").read_text())

    # a copy of the encoder folder whose build stamp differs is not served the old export
    other = tmp_path / "encoder"
    other.mkdir()
    for name in ("leitstand_build.json", "config.json"):
        shutil.copy(path / name, other / name)
    target = O.onnx_dir(other)
    shutil.copytree(built, target)
    assert O.is_exported(target, other)
    changed = json.loads((other / "leitstand_build.json").read_text())
    changed["format"] = -1
    (other / "leitstand_build.json").write_text(json.dumps(changed))
    assert not O.is_exported(target, other)
    rebuilt: list[Path] = []

    def export(src: Path, dst: Path, top: Path | None = None) -> Path:
        rebuilt.append(dst)
        return dst

    monkeypatch.setattr(O, "export_int8", export)
    assert O.ensure_onnx(other) == target and rebuilt == [target]
    assert O.ensure_onnx(path) == built and rebuilt == [target]  # the current one: kept

    # a fine-tuned top layer gets an export of its own
    layer = tmp_path / "top_layer.safetensors"
    layer.write_bytes(b"not really a layer")
    assert O.onnx_dir(path, layer) != O.onnx_dir(path)
    assert not O.is_exported(O.onnx_dir(path, layer), path, layer)


def test_runtime_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEITSTAND_TRIAGE_RUNTIME", raising=False)
    assert resolve_runtime(None) == "onnx"  # onnxruntime is a dependency
    assert resolve_runtime(None, "/some/folder") == "torch"  # other folders: torch
    assert resolve_runtime("torch") == "torch"
    monkeypatch.setenv("LEITSTAND_TRIAGE_RUNTIME", "torch")
    assert resolve_runtime(None) == "torch"
    assert resolve_runtime("onnx") == "onnx"  # an explicit choice beats the environment
    with pytest.raises(ValueError, match="unknown triage runtime"):
        resolve_runtime("tensorrt")
    with pytest.raises(ModelFolderError, match="default encoder only"):
        resolve_runtime("onnx", "/some/folder")
    monkeypatch.delenv("LEITSTAND_TRIAGE_RUNTIME")
    # auto follows the heads: ONNX for heads trained on this export, torch for any other
    assert resolve_runtime(None, trained_on=O.RUNTIME) == "onnx"
    assert resolve_runtime(None, trained_on="torch") == "torch"
    assert resolve_runtime(None, trained_on="onnx-int8/1") == "torch"  # an older export
    assert resolve_runtime("onnx", trained_on="torch") == "onnx"  # asked for explicitly


def test_the_committed_heads_were_trained_on_the_current_export() -> None:
    from triage.model import ARTIFACTS_DIR

    meta = json.loads((ARTIFACTS_DIR / "meta.json").read_text())
    assert meta["runtime"] == O.RUNTIME


def test_training_features_are_cached_per_runtime(tmp_path: Path) -> None:
    cfg = TrainConfig(feature_cache=tmp_path)
    assert feature_cache(cfg, "onnx").dir != feature_cache(cfg, "torch").dir


@pytest.mark.slow
def test_a_fresh_export_is_readable_by_other_users_and_loads(tmp_path: Path, encoders) -> None:
    """The image builds the model as root and serves it as another user."""
    import stat

    path = ensure_encoder()
    target = O.export_int8(path, tmp_path / "export")
    assert O.is_exported(target, path)
    for item in [target, *target.rglob("*")]:
        mode = stat.S_IMODE(item.stat().st_mode)
        assert mode & stat.S_IROTH, (item, oct(mode))
        if item.is_dir():
            assert mode & stat.S_IXOTH, (item, oct(mode))
    fresh = O.OnnxEncoder(
        target,
        _fast_tokenizer(path / "tokenizer.json", MAX_TOKENS),
        hidden_size=384,
        pool_layers=(-2, -1),
        prefix="query: ",
        name=path.name,
    )
    cached, _ = encoders
    # the export is deterministic: a second build embeds exactly like the cached one
    assert np.allclose(fresh.embed(TEXTS).numpy(), cached.embed(TEXTS).numpy(), atol=1e-5)


def test_make_readable_opens_a_private_build_folder(tmp_path: Path) -> None:
    import stat
    import tempfile

    from triage.encoder import make_readable

    folder = Path(tempfile.mkdtemp(dir=tmp_path))  # 0700, as the builds start
    (folder / "sub").mkdir(mode=0o700)
    (folder / "sub" / "weights.bin").write_bytes(b"x")
    (folder / "sub" / "weights.bin").chmod(0o600)
    make_readable(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert stat.S_IMODE((folder / "sub").stat().st_mode) == 0o755
    assert stat.S_IMODE((folder / "sub" / "weights.bin").stat().st_mode) == 0o644
