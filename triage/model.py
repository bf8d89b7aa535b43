"""The triage model: an encoder, small trained heads, and documented urgency rules.

Pipeline per batch of messages:

1. The encoder (multilingual-e5-small, rebuilt offline by :mod:`triage.encoder`) embeds
   ``"query: " + text``; hidden states of the configured layers are mean-pooled and
   concatenated.
2. :class:`TriageHeads` (a shared MLP trunk plus one output layer per task, trained by
   :mod:`triage.train` and committed in ``triage/artifacts/``) gives category
   probabilities, sentiment, a learned urgency and the auxiliary public-task scores.
3. :mod:`triage.urgency` turns them into the 0-100 urgency (a documented formula over
   category probabilities blended with the learned urgency), then applies the separate
   author-reach rule, and writes the reasons.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from triage.language import detect_language, normalize_language
from triage.urgency import (
    CATEGORIES,
    SENTIMENTS,
    compose_urgency,
)

__all__ = [
    "CATEGORIES",
    "SENTIMENTS",
    "HeadEnsemble",
    "ModelFolderError",
    "TriageHeads",
    "TriageInput",
    "TriageResult",
    "Triager",
    "load_triager",
    "tiny_random_encoder",
    "tiny_random_triager",
]

log = logging.getLogger(__name__)

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
HEADS_FILE = "heads.safetensors"
META_FILE = "meta.json"
QUERY_PREFIX = "query: "
MAX_TOKENS = 128
#: messages per forward pass of the int8 ONNX encoder (see load_triager)
ONNX_BATCH = 8
#: bf16 autocast pays off for batches, not for single messages (MODELS.md speed table)
BF16_MIN_BATCH = 8


def cpu_has_bf16() -> bool:
    """True when the CPU has native bfloat16 matmuls (AVX512-BF16 or AMX)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as fh:
            flags = fh.read(200_000)
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


@dataclass(frozen=True, slots=True)
class TriageInput:
    text: str
    language: str | None = None
    author_followers: int | None = None


@dataclass(frozen=True, slots=True)
class TriageResult:
    urgency: int  # 0-100
    categories: dict[str, float]  # every key of CATEGORIES, probability 0..1
    sentiment: str  # negative | neutral | positive
    sentiment_scores: dict[str, float]
    language: str  # ISO 639-1
    reasons: list[str]
    model_version: str

    def to_dict(self) -> dict:
        return asdict(self)


class ModelFolderError(ValueError):
    """A configured model folder (``LEITSTAND_TRIAGE_MODEL``) cannot be used."""


class Triager(Protocol):
    model_version: str

    def score(self, items: Sequence[TriageInput]) -> list[TriageResult]: ...


# --------------------------------------------------------------------------- heads


class TriageHeads(nn.Module):
    """Shared trunk + one linear output per task.

    ``tasks`` maps a task name to its number of outputs. The service uses ``cat``
    (11 sigmoid outputs in CATEGORIES order), ``sent`` (3-way softmax), ``urg`` (one
    sigmoid output, urgency / 100); the other tasks are the public benchmark tasks
    (binary: one logit; multi-class: softmax) trained alongside for transfer and
    reported by ``triage train``.
    """

    def __init__(
        self, in_dim: int, hidden: int, tasks: dict[str, int], dropout: float = 0.2
    ) -> None:
        super().__init__()
        self.in_dim, self.hidden, self.tasks = in_dim, hidden, dict(tasks)
        self.trunk = nn.Sequential(
            nn.LayerNorm(in_dim),
            nn.Dropout(dropout),
            nn.Linear(in_dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
        )
        self.out = nn.ModuleDict({name: nn.Linear(hidden, n) for name, n in self.tasks.items()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.trunk(x)
        return {name: layer(z) for name, layer in self.out.items()}


class HeadEnsemble(nn.Module):
    """Several :class:`TriageHeads` trained from different seeds; their logits averaged.

    Heads trained on a few hundred messages of our own vary with the seed: the same
    critical message could land at urgency 67 under one seed and 90 under another. The
    average of five is steadier, and costs microseconds next to the encoder.
    """

    def __init__(self, members: Sequence[TriageHeads]) -> None:
        super().__init__()
        first = members[0]
        self.in_dim, self.hidden, self.tasks = first.in_dim, first.hidden, dict(first.tasks)
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        outs = [member(x) for member in self.members]
        return {name: torch.stack([o[name] for o in outs]).mean(0) for name in self.tasks}


Heads = TriageHeads | HeadEnsemble

SERVICE_TASKS = {"cat": len(CATEGORIES), "sent": len(SENTIMENTS), "urg": 1}


def save_heads(heads: Heads, meta: dict, directory: Path) -> None:
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in heads.state_dict().items()}
    save_file(state, str(directory / HEADS_FILE))
    meta = dict(meta)
    meta.update({"in_dim": heads.in_dim, "hidden": heads.hidden, "tasks": heads.tasks})
    meta["members"] = len(heads.members) if isinstance(heads, HeadEnsemble) else 1
    meta["heads_sha256"] = hashlib.sha256((directory / HEADS_FILE).read_bytes()).hexdigest()
    (directory / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")


def load_heads(directory: Path) -> tuple[Heads, dict]:
    from safetensors.torch import load_file

    meta = json.loads((directory / META_FILE).read_text())
    members = int(meta.get("members", 1))

    def one() -> TriageHeads:
        return TriageHeads(meta["in_dim"], meta["hidden"], meta["tasks"])

    heads: Heads = one() if members == 1 else HeadEnsemble([one() for _ in range(members)])
    state = load_file(str(directory / HEADS_FILE))
    heads.load_state_dict({k: v.float() for k, v in state.items()})
    heads.eval()
    return heads, meta


# --------------------------------------------------------------------------- encoder

Tokenize = Callable[[list[str]], dict[str, torch.Tensor]]


def _fast_tokenizer(path: Path, max_length: int) -> Tokenize:
    """Tokenize with the ``tokenizers`` library straight from ``tokenizer.json``."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.enable_truncation(max_length)
    pad_id = tok.token_to_id("<pad>")
    tok.enable_padding(pad_id=pad_id if pad_id is not None else 0, pad_token="<pad>")
    lock = threading.Lock()  # a Tokenizer with padding state is not re-entrant

    def tokenize(texts: list[str]) -> dict[str, torch.Tensor]:
        with lock:
            encs = tok.encode_batch(texts)
        ids = torch.tensor([e.ids for e in encs], dtype=torch.long)
        mask = torch.tensor([e.attention_mask for e in encs], dtype=torch.long)
        return {"input_ids": ids, "attention_mask": mask}

    return tokenize


def _auto_tokenizer(path: Path, max_length: int) -> Tokenize:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)

    def tokenize(texts: list[str]) -> dict[str, torch.Tensor]:
        b = tok(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        return {"input_ids": b["input_ids"], "attention_mask": b["attention_mask"]}

    return tokenize


class TextEncoder:
    """Tokenizer + transformer + mean pooling over the configured hidden layers."""

    def __init__(
        self,
        model: nn.Module,
        tokenize: Tokenize,
        *,
        pool_layers: Sequence[int] = (-1,),
        prefix: str = QUERY_PREFIX,
        name: str = "encoder",
        bf16: bool = False,
    ) -> None:
        self.model = model.eval()
        self.tokenize = tokenize
        self.pool_layers = tuple(pool_layers)
        self.prefix = prefix
        self.name = name
        self.bf16 = bf16
        self.hidden_size = int(getattr(model.config, "hidden_size"))  # noqa: B009

    @property
    def out_dim(self) -> int:
        return self.hidden_size * len(self.pool_layers)

    def _forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        need_all = self.pool_layers != (-1,)
        out = self.model(**batch, output_hidden_states=need_all)
        states = out.hidden_states if need_all else (out.last_hidden_state,)
        layers = [states[i] for i in self.pool_layers] if need_all else list(states)
        mask = batch["attention_mask"].unsqueeze(-1).to(layers[0].dtype)
        denom = mask.sum(1).clamp(min=1.0)
        return torch.cat([(h * mask).sum(1) / denom for h in layers], dim=-1).float()

    @torch.inference_mode()
    def embed_with_tokens(
        self, texts: Sequence[str], token_layer: int, batch_size: int = 32
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Pooled features plus, per text, the unpadded token states of ``token_layer``
        (used to fine-tune the top encoder layer on cached inputs)."""
        prefixed = [self.prefix + (t or "") for t in texts]
        order = sorted(range(len(prefixed)), key=lambda i: len(prefixed[i]))
        pooled = torch.empty((len(prefixed), self.out_dim))
        tokens: list[torch.Tensor] = [torch.empty(0)] * len(prefixed)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = self.tokenize([prefixed[i] for i in idx])
            ctx = (
                torch.autocast("cpu", dtype=torch.bfloat16)
                if self.bf16
                else contextlib.nullcontext()
            )
            with ctx:
                out = self.model(**batch, output_hidden_states=True)
            states = out.hidden_states
            mask = batch["attention_mask"].unsqueeze(-1).float()
            denom = mask.sum(1).clamp(min=1.0)
            vec = torch.cat(
                [(states[i].float() * mask).sum(1) / denom for i in self.pool_layers], dim=-1
            )
            pooled[torch.tensor(idx)] = vec
            lengths = batch["attention_mask"].sum(1).tolist()
            layer = states[token_layer].to(torch.float16)
            for row, i in enumerate(idx):
                tokens[i] = layer[row, : int(lengths[row])].clone()
        return pooled, tokens

    @torch.inference_mode()
    def embed(self, texts: Sequence[str], batch_size: int = 32) -> torch.Tensor:
        """Embed texts; sorts by length inside the call so batches pad little."""

        def forward(batch: dict[str, torch.Tensor]) -> torch.Tensor:
            if self.bf16 and len(batch["input_ids"]) >= BF16_MIN_BATCH:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return self._forward(batch)
            return self._forward(batch)

        return embed_by_length(self, texts, batch_size, forward)


def embed_by_length(
    encoder: Encoder,
    texts: Sequence[str],
    batch_size: int,
    forward: Callable[[dict[str, torch.Tensor]], torch.Tensor],
) -> torch.Tensor:
    """Prefix, sort by length (batches pad little), tokenize and ``forward`` each batch;
    rows come back in the order of ``texts``. Shared by the torch and ONNX encoders."""
    if not texts:
        return torch.zeros((0, encoder.out_dim))
    prefixed = [encoder.prefix + (t or "") for t in texts]
    order = sorted(range(len(prefixed)), key=lambda i: len(prefixed[i]))
    out = torch.empty((len(prefixed), encoder.out_dim))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        out[torch.tensor(idx)] = forward(encoder.tokenize([prefixed[i] for i in idx]))
    return out


def load_encoder(
    path: Path, *, pool_layers: Sequence[int] = (-1,), bf16: bool = False
) -> TextEncoder:
    """Load a local transformers folder as a :class:`TextEncoder` (never downloads)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    path = Path(path)
    kwargs: dict[str, Any] = {"local_files_only": True}
    config = json.loads((path / "config.json").read_text())
    if config.get("model_type") in {"bert", "roberta", "xlm-roberta"}:
        kwargs["add_pooling_layer"] = False
    model = AutoModel.from_pretrained(str(path), **kwargs)
    if (path / "leitstand_build.json").is_file() and (path / "tokenizer.json").is_file():
        tokenize = _fast_tokenizer(path / "tokenizer.json", MAX_TOKENS)
    else:
        tokenize = _auto_tokenizer(path, MAX_TOKENS)
    return TextEncoder(model, tokenize, pool_layers=pool_layers, name=path.name, bf16=bf16)


class Encoder(Protocol):
    """What the heads need from an encoder: :class:`TextEncoder` (torch) or
    :class:`triage.onnx_encoder.OnnxEncoder`."""

    name: str
    prefix: str
    pool_layers: tuple[int, ...]
    hidden_size: int
    tokenize: Tokenize

    @property
    def out_dim(self) -> int: ...

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> torch.Tensor: ...


# --------------------------------------------------------------------------- triager


class ModelTriager:
    """Encoder + heads + rules. Thread-safe for one caller at a time per instance."""

    def __init__(
        self,
        encoder: Encoder,
        heads: Heads,
        meta: dict,
        *,
        threads: int = 1,
        batch_size: int = 32,
    ) -> None:
        if heads.in_dim != encoder.out_dim:
            raise ValueError(
                f"heads expect {heads.in_dim}-dim features, encoder gives {encoder.out_dim}"
            )
        self.encoder = encoder
        self.heads = heads.eval()
        self.meta = meta
        self.threads = max(1, int(threads))
        self.batch_size = batch_size
        self.model_version = str(meta.get("model_version", "unversioned"))
        self._lock = threading.Lock()

    @torch.inference_mode()
    def raw_scores(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Head outputs as probabilities for every task (binary → P(positive))."""
        torch.set_num_threads(self.threads)
        feats = self.encoder.embed(list(texts), batch_size=self.batch_size)
        return head_probabilities(self.heads(feats))

    def score(self, items: Sequence[TriageInput]) -> list[TriageResult]:
        if not items:
            return []
        with self._lock:
            probs = self.raw_scores([it.text for it in items])
        return build_results(items, probs, self.meta, self.model_version)


def build_results(
    items: Sequence[TriageInput],
    probs: dict[str, torch.Tensor],
    meta: dict,
    model_version: str,
) -> list[TriageResult]:
    """Turn head probabilities into results (urgency formula, reach rule, reasons)."""
    results = []
    # Plain lists first: indexing a tensor element by element costs microseconds each.
    cat_rows = probs["cat"].tolist()
    sent_rows = probs["sent"].tolist()
    learned_urgency = probs["urg"].reshape(-1).tolist()
    for i, item in enumerate(items):
        cats = dict(zip(CATEGORIES, cat_rows[i], strict=True))
        sent = dict(zip(SENTIMENTS, sent_rows[i], strict=True))
        learned = learned_urgency[i]
        language = normalize_language(item.language) or detect_language(item.text)
        urgency, reasons = compose_urgency(
            item.text,
            cats,
            learned_urgency=learned,
            author_followers=item.author_followers,
            language=language,
            settings=meta.get("urgency"),
        )
        results.append(
            TriageResult(
                urgency=urgency,
                categories={k: round(v, 4) for k, v in cats.items()},
                sentiment=max(sent, key=sent.__getitem__),
                sentiment_scores={k: round(v, 4) for k, v in sent.items()},
                language=language,
                reasons=reasons,
                model_version=model_version,
            )
        )
    return results


def head_probabilities(logits: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Logits → probabilities: sigmoid for ``cat``/``urg``/binary tasks, else softmax."""
    out: dict[str, torch.Tensor] = {}
    for name, z in logits.items():
        if name == "cat":
            out[name] = torch.sigmoid(z.float())
        elif z.shape[-1] == 1:
            out[name] = torch.sigmoid(z.float()).squeeze(-1)
        else:
            out[name] = torch.softmax(z.float(), dim=-1)
    return out


# --------------------------------------------------------------------------- loading


def resolve_runtime(
    runtime: str | None, model_path: str | Path | None = None, trained_on: str | None = None
) -> str:
    """``onnx`` or ``torch`` for this request (see :func:`load_triager`). ``auto`` follows
    the heads: ONNX unless ``trained_on`` (their ``meta.json`` runtime) names another one."""
    value = (runtime or os.environ.get("LEITSTAND_TRIAGE_RUNTIME") or "auto").strip().lower()
    if value not in ("auto", "onnx", "torch"):
        raise ValueError(f"unknown triage runtime {value!r}: auto, onnx or torch")
    if value == "auto":
        from triage.onnx_encoder import RUNTIME, runtime_available

        onnx_heads = trained_on is None or trained_on == RUNTIME
        return "onnx" if model_path is None and onnx_heads and runtime_available() else "torch"
    if value == "onnx" and model_path is not None:
        raise ModelFolderError(
            "the ONNX runtime serves the default encoder only; "
            "use LEITSTAND_TRIAGE_RUNTIME=torch with LEITSTAND_TRIAGE_MODEL"
        )
    return value


def runtime_name(runtime: str) -> str:
    """What ``meta.json`` records as the runtime heads were trained on."""
    from triage.onnx_encoder import RUNTIME

    return RUNTIME if runtime == "onnx" else "torch"


def _model_version(meta: dict, encoder_name: str) -> str:
    tag = str(meta.get("heads_sha256", "0" * 10))[:10]
    return f"{encoder_name}+heads-{tag}"


def load_triager(
    model_path: str | Path | None = None,
    *,
    threads: int = 1,
    cache_dir: Path | None = None,
    artifacts_dir: Path | None = None,
    bf16: bool | None = None,
    runtime: str | None = None,
) -> Triager:
    """Load the triage model, offline.

    * ``model_path=None``: the default encoder, rebuilt from installed packages into
      ``cache_dir`` when missing (checksums verified), plus the committed heads.
    * ``model_path``: any local transformers folder (``LEITSTAND_TRIAGE_MODEL``). If it
      holds its own ``heads.safetensors`` + ``meta.json`` those are used (``leitstand
      triage train --model-path DIR`` writes them there); otherwise the heads from
      ``artifacts_dir`` (they need the same feature size). A folder that is not a
      transformers model, or whose features do not fit the heads, raises
      :class:`ModelFolderError`.
    * ``bf16``: bfloat16 autocast for the encoder on batches of 8 or more (faster on
      CPUs with AVX512-BF16/AMX; embeddings stay at cosine > 0.9999 to fp32). ``None``
      reads ``LEITSTAND_TRIAGE_BF16`` (``1``/``0``/``auto``, default ``auto``: on when
      the CPU supports it).
    * ``runtime``: ``onnx`` (the default encoder as int8 ONNX, :mod:`triage.onnx_encoder`),
      ``torch``, or ``auto`` (ONNX for the default encoder when ONNX Runtime is installed,
      torch otherwise and for any other folder). ``None`` reads ``LEITSTAND_TRIAGE_RUNTIME``.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    threads = max(1, int(threads))
    torch.set_num_threads(threads)
    if bf16 is None:
        env = os.environ.get("LEITSTAND_TRIAGE_BF16", "auto").strip().lower()
        bf16 = cpu_has_bf16() if env in ("", "auto") else env in {"1", "true", "yes", "on"}
    art = Path(artifacts_dir) if artifacts_dir else ARTIFACTS_DIR
    if model_path is not None and (Path(model_path) / HEADS_FILE).is_file():
        art = Path(model_path)
    heads, meta = load_heads(art)
    if model_path is None:
        from triage.encoder import ensure_encoder

        enc_path = ensure_encoder(cache_dir)
    else:
        enc_path = Path(model_path)
        if not (enc_path / "config.json").is_file():
            raise ModelFolderError(
                f"{enc_path} is not a transformers model folder (no config.json); "
                "LEITSTAND_TRIAGE_MODEL must name a local folder saved by save_pretrained"
            )
    trained_on = str(meta.get("runtime", "torch"))
    runtime = resolve_runtime(runtime, model_path, trained_on)
    encoder: Encoder
    if runtime == "onnx":
        from triage.onnx_encoder import load_onnx_encoder

        encoder = load_onnx_encoder(
            enc_path,
            pool_layers=meta.get("pool_layers", [-1]),
            prefix=str(meta.get("prefix", QUERY_PREFIX)),
            threads=threads,
            top_layer=art / str(meta["top_layer"]) if meta.get("top_layer") else None,
        )
    else:
        try:
            encoder = load_encoder(enc_path, pool_layers=meta.get("pool_layers", [-1]), bf16=bf16)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelFolderError(
                f"{enc_path} does not load as a transformers model: {exc}"
            ) from exc
    if trained_on != runtime_name(runtime):
        log.warning(
            "the heads were trained on %s features and are served on %s; retrain with "
            "LEITSTAND_TRIAGE_RUNTIME=%s for the figures meta.json reports",
            trained_on,
            runtime_name(runtime),
            runtime,
        )
    if heads.in_dim != encoder.out_dim:
        raise ModelFolderError(
            f"the heads in {art} expect {heads.in_dim}-dim features, but {enc_path} gives "
            f"{encoder.out_dim} (hidden size {encoder.hidden_size} x {len(encoder.pool_layers)} "
            f"pooled layers); train heads for this model: "
            f"leitstand triage train --model-path {enc_path}"
        )
    if meta.get("top_layer") and isinstance(encoder, TextEncoder):
        # the fine-tuned top encoder layer (triage.finetune) replaces the original one
        # (the ONNX export includes it already)
        from safetensors.torch import load_file

        state = load_file(str(art / meta["top_layer"]))
        top: nn.Module = encoder.model.encoder.layer[-1]  # type: ignore[union-attr,index,assignment]
        top.load_state_dict({k: v.float() for k, v in state.items()})
        top.eval()
    meta = dict(meta)
    meta["model_version"] = _model_version(meta, encoder.name)
    # int8 ONNX in sub-batches of 8 messages of similar length: less padding, so faster
    # (32 mixed messages: 198 instead of 179 msg/s), and the activation ranges that dynamic
    # quantisation takes per batch depend less on what else is in it (the bench's critical
    # messages scored in 400 random inbox batches: worst urgency 80 instead of 79)
    batch_size = ONNX_BATCH if runtime == "onnx" else 32
    return ModelTriager(encoder, heads, meta, threads=threads, batch_size=batch_size)


# --------------------------------------------------------------------------- tiny model


def _hash_tokenizer(vocab_size: int, max_length: int) -> Tokenize:
    """A dependency-free tokenizer for the tiny test model: words hashed into ids."""
    import re

    word = re.compile(r"\w+|[^\w\s]", re.UNICODE)

    def tokenize(texts: list[str]) -> dict[str, torch.Tensor]:
        seqs = []
        for t in texts:
            ids = [0]
            for w in word.findall(t.lower())[: max_length - 2]:
                h = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=4).digest(), "little")
                ids.append(4 + h % (vocab_size - 4))
            seqs.append([*ids, 2])
        n = max(len(s) for s in seqs)
        ids_t = torch.ones((len(seqs), n), dtype=torch.long)
        mask = torch.zeros((len(seqs), n), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids_t[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        return {"input_ids": ids_t, "attention_mask": mask}

    return tokenize


def tiny_random_encoder(
    seed: int = 0, *, num_layers: int = 2, pool_layers: Sequence[int] = (-1,)
) -> TextEncoder:
    """A tiny randomly initialised BERT (hidden size 32) with a hashing tokenizer:
    deterministic for a seed, milliseconds per batch, meaningless features. For tests
    (``triage.train.run_training(..., encoder=...)`` needs ``num_layers >= 3``)."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=512,
        hidden_size=32,
        num_hidden_layers=num_layers,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=MAX_TOKENS,
        pad_token_id=1,
    )
    model = BertModel(config, add_pooling_layer=False)
    return TextEncoder(
        model, _hash_tokenizer(512, MAX_TOKENS), pool_layers=pool_layers, name="tiny-random"
    )


def tiny_random_triager(seed: int = 0) -> Triager:
    """A tiny randomly initialised BERT with random heads, through the same code path.

    Fast (milliseconds) and deterministic for a seed; its scores mean nothing. For
    logic tests of the service.
    """
    encoder = tiny_random_encoder(seed)
    heads = TriageHeads(encoder.out_dim, 16, SERVICE_TASKS)
    heads.eval()
    meta = {"model_version": f"tiny-random-{seed}"}
    return ModelTriager(encoder, heads, meta, threads=1)
