"""An on-disk cache of frozen encoder features, so training embeds each text once.

Features live in ``<cache>/<fingerprint>/features.npy`` (float16, one row per text)
with ``keys.txt`` (SHA-1 of each text, same order). The fingerprint covers the encoder
weights' checksum, the pooled layers and the prefix, so a different encoder never
reads stale features. The cache is git-ignored (``var/``).
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from triage.model import TextEncoder


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def fingerprint(encoder_id: str, pool_layers: Sequence[int], prefix: str) -> str:
    raw = f"{encoder_id}|{tuple(pool_layers)}|{prefix}"
    return hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()[:16]


class FeatureCache:
    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.keys: list[str] = []
        self.index: dict[str, int] = {}
        self.array: np.ndarray | None = None
        kp, fp = self.dir / "keys.txt", self.dir / "features.npy"
        if kp.is_file() and fp.is_file():
            self.keys = kp.read_text().split()
            self.array = np.load(fp)
            if len(self.keys) != len(self.array):
                self.keys, self.array = [], None
            self.index = {k: i for i, k in enumerate(self.keys)}

    def missing(self, texts: Sequence[str]) -> list[str]:
        seen: set[str] = set()
        out = []
        for t in texts:
            k = text_key(t)
            if k not in self.index and k not in seen:
                seen.add(k)
                out.append(t)
        return out

    def add(self, texts: Sequence[str], feats: np.ndarray) -> None:
        feats = feats.astype(np.float16)
        self.array = feats if self.array is None else np.concatenate([self.array, feats])
        for t in texts:
            self.index[text_key(t)] = len(self.keys)
            self.keys.append(text_key(t))

    def save(self) -> None:
        if self.array is None:
            return
        tmp = self.dir / "features.tmp.npy"
        np.save(tmp, self.array)
        tmp.replace(self.dir / "features.npy")
        (self.dir / "keys.txt").write_text("\n".join(self.keys) + "\n")

    def get(self, texts: Sequence[str]) -> torch.Tensor:
        assert self.array is not None
        idx = [self.index[text_key(t)] for t in texts]
        return torch.from_numpy(self.array[idx].astype(np.float32))


class TokenCache:
    """Per-text token states of one encoder layer, in chunk files (float16)."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.index: dict[str, tuple[int, int, int]] = {}
        self.chunks: list[np.ndarray] = []
        for f in sorted(self.dir.glob("chunk-*.npz")):
            z = np.load(f)
            keys = [str(k) for k in z["keys"]]
            lengths = z["lengths"]
            states = z["states"]
            ci = len(self.chunks)
            self.chunks.append(states)
            off = 0
            for k, n in zip(keys, lengths, strict=True):
                self.index[k] = (ci, off, int(n))
                off += int(n)

    def has(self, text: str) -> bool:
        return text_key(text) in self.index

    def add(self, texts: Sequence[str], tokens: Sequence[torch.Tensor]) -> None:
        keys = np.array([text_key(t) for t in texts])
        lengths = np.array([len(x) for x in tokens], dtype=np.int32)
        states = torch.cat(list(tokens)).numpy().astype(np.float16)
        ci = len(self.chunks)
        np.savez(self.dir / f"chunk-{ci:05d}.npz", keys=keys, lengths=lengths, states=states)
        self.chunks.append(states)
        off = 0
        for k, n in zip(keys, lengths, strict=True):
            self.index[str(k)] = (ci, off, int(n))
            off += int(n)

    def get(self, text: str) -> np.ndarray:
        ci, off, n = self.index[text_key(text)]
        return self.chunks[ci][off : off + n]


def embed_with_cache(
    encoder: TextEncoder,
    texts: Sequence[str],
    cache: FeatureCache,
    *,
    chunk: int = 2048,
    batch_size: int = 32,
    verbose: bool = True,
    tokens: TokenCache | None = None,
    token_layer: int = -2,
) -> torch.Tensor:
    todo = cache.missing(texts)
    if tokens is not None:
        seen = set(todo)
        todo += [t for t in dict.fromkeys(texts) if not tokens.has(t) and t not in seen]
    if todo:
        start = time.monotonic()
        # long texts last, so that chunks pad little
        todo.sort(key=len)
        for i in range(0, len(todo), chunk):
            part = todo[i : i + chunk]
            if tokens is None:
                feats = encoder.embed(part, batch_size=batch_size).numpy()
            else:
                pooled, toks = encoder.embed_with_tokens(part, token_layer, batch_size)
                feats = pooled.numpy()
                tokens.add(part, toks)
            new = [i for i, t in enumerate(part) if text_key(t) not in cache.index]
            cache.add([part[i] for i in new], feats[new])
            cache.save()
            if verbose:
                done = min(i + chunk, len(todo))
                rate = done / max(1e-6, time.monotonic() - start)
                print(f"  embedded {done}/{len(todo)} ({rate:.0f}/s)", file=sys.stderr, flush=True)
    return cache.get(texts)
