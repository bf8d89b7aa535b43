"""Train the triage heads on frozen encoder features (seeded, reproducible).

Steps: read the public sets, the project's own set and optional agent corrections
(:mod:`triage.data`); split each deterministically into train/dev; embed every text
once with the frozen encoder (cached on disk by :mod:`triage.features`); train one
shared-trunk multi-task head (:class:`triage.model.TriageHeads`) with masked losses, from
``ensemble`` seeds (:class:`triage.model.HeadEnsemble` averages them);
report per-task metrics on the dev split; write ``heads.safetensors`` + ``meta.json``.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from triage import data as D
from triage.features import FeatureCache
from triage.metrics import accuracy, macro_f1, ndcg_at_k, precision_at_k, prf, spearman
from triage.model import (
    ARTIFACTS_DIR,
    QUERY_PREFIX,
    SERVICE_TASKS,
    HeadEnsemble,
    Heads,
    TextEncoder,
    TriageHeads,
    TriageInput,
    build_results,
    head_probabilities,
    resolve_runtime,
    runtime_name,
    save_heads,
)
from triage.urgency import CATEGORIES, DEFAULT_BLEND

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FEATURE_CACHE = REPO_ROOT / "var" / "triage-cache"
CACHED_LAYERS = (-4, -3, -2, -1)
#: loss weight of the heuristic urgency targets of public rows, relative to real labels
WEAK_URGENCY_WEIGHT = 0.3


@dataclass
class TrainConfig:
    data_dir: Path = D.DEFAULT_DATA_DIR
    corrections: Path | None = None
    own_path: Path = D.OWN_LABELLED
    out_dir: Path = ARTIFACTS_DIR
    cache_dir: Path | None = None  # encoder folder cache (triage.encoder)
    feature_cache: Path = DEFAULT_FEATURE_CACHE
    seed: int = 13
    dev_percent: int = 15
    own_heldout_percent: int = 25
    pool_layers: tuple[int, ...] = (-2, -1)
    hidden: int = 512
    dropout: float = 0.25
    epochs: int = 14
    lr: float = 1e-3
    weight_decay: float = 0.02
    batch_size: int = 256
    own_repeat: int = 12
    t6_limit: int = 4_000
    t26_limit: int = 12_000
    threads: int = 2
    final_fit: bool = False  # also train on the dev split for the written artifact
    finetune_epochs: int = 0  # > 0: also fine-tune the encoder's top layer (triage.finetune)
    finetune_lr: float = 4e-5
    cached_only: bool = False  # development aid: skip texts without cached features
    ensemble: int = 5  # heads trained from this many seeds, logits averaged (HeadEnsemble)
    # the encoder runtime whose features the heads learn from: "onnx", "torch", or None
    # for LEITSTAND_TRIAGE_RUNTIME / auto (triage.model.resolve_runtime); fine-tuning the
    # top layer always runs on torch
    runtime: str | None = None
    task_weights: dict[str, float] = field(default_factory=dict)


def _binary_tasks() -> list[str]:
    return list(D.BINARY_TASKS)


def all_tasks() -> dict[str, int]:
    tasks = dict(SERVICE_TASKS)
    tasks.update({t: 1 for t in D.BINARY_TASKS})
    tasks.update(D.MULTICLASS_TASKS)
    return tasks


def label_tensors(examples: Sequence[D.Example]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per task: (values, mask). ``cat`` is (N, 11)."""
    n = len(examples)
    out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    cat_v = torch.zeros((n, len(CATEGORIES)))
    cat_m = torch.zeros((n, len(CATEGORIES)))
    for i, ex in enumerate(examples):
        for j, c in enumerate(CATEGORIES):
            v = ex.labels.get(f"cat:{c}")
            if v is not None:
                cat_v[i, j], cat_m[i, j] = float(v), 1.0
    out["cat"] = (cat_v, cat_m)
    for task in ["sent", "urg", "urg_weak", *D.BINARY_TASKS, *D.MULTICLASS_TASKS]:
        values = torch.zeros(n)
        mask = torch.zeros(n)
        for i, ex in enumerate(examples):
            if task in ex.labels:
                values[i], mask[i] = float(ex.labels[task]), 1.0
        out[task] = (values, mask)
    return out


def _pos_weights(labels: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
    pw: dict[str, torch.Tensor] = {}
    v, m = labels["cat"]
    pos = (v * m).sum(0)
    neg = ((1 - v) * m).sum(0)
    pw["cat"] = (neg / pos.clamp(min=1)).clamp(1.0, 20.0)
    for t in D.BINARY_TASKS:
        v, m = labels[t]
        pos, neg = (v * m).sum(), ((1 - v) * m).sum()
        pw[t] = (neg / pos.clamp(min=1)).clamp(0.25, 20.0)
    return pw


def compute_loss(
    out: dict[str, torch.Tensor],
    batch: dict[str, tuple[torch.Tensor, torch.Tensor]],
    weights: torch.Tensor,
    pos_w: dict[str, torch.Tensor],
    task_weights: dict[str, float],
) -> torch.Tensor:
    total = out["cat"].new_zeros(())
    v, m = batch["cat"]
    if m.sum() > 0:
        loss_t = F.binary_cross_entropy_with_logits(
            out["cat"], v, pos_weight=pos_w["cat"], reduction="none"
        )
        w = m * weights[:, None]
        total = total + task_weights.get("cat", 2.0) * (loss_t * w).sum() / w.sum().clamp(min=1e-6)
    for t in D.BINARY_TASKS:
        v, m = batch[t]
        if m.sum() == 0:
            continue
        loss_t = F.binary_cross_entropy_with_logits(
            out[t].squeeze(-1), v, pos_weight=pos_w[t], reduction="none"
        )
        total = total + task_weights.get(t, 1.0) * (loss_t * m).sum() / m.sum()
    for t in ["sent", *D.MULTICLASS_TASKS]:
        v, m = batch[t]
        if m.sum() == 0:
            continue
        loss_t = F.cross_entropy(out[t], v.long(), reduction="none")
        w = m * weights
        total = total + task_weights.get(t, 1.0) * (loss_t * w).sum() / w.sum()
    v, m = batch["urg"]
    if m.sum() > 0:
        loss_t = (torch.sigmoid(out["urg"].squeeze(-1)) - v) ** 2
        weak = batch["urg_weak"][0]
        w = m * weights * (1.0 - (1.0 - WEAK_URGENCY_WEIGHT) * weak)
        total = total + task_weights.get("urg", 4.0) * (loss_t * w).sum() / w.sum()
    return total


def select_features(full: torch.Tensor, pool_layers: Sequence[int]) -> torch.Tensor:
    """Slice the cached (N, 4*H) features down to the chosen layers."""
    h = full.shape[1] // len(CACHED_LAYERS)
    blocks = [CACHED_LAYERS.index(layer) for layer in pool_layers]
    return torch.cat([full[:, b * h : (b + 1) * h] for b in blocks], dim=1)


def fit_heads(
    x: torch.Tensor,
    examples: Sequence[D.Example],
    cfg: TrainConfig,
    *,
    log: bool = True,
) -> Heads:
    """One set of heads, or ``cfg.ensemble`` of them from seeds ``seed``, ``seed + 1``, ..."""
    if cfg.ensemble <= 1:
        return _fit_member(x, examples, cfg, cfg.seed, log=log)
    return HeadEnsemble(
        [_fit_member(x, examples, cfg, cfg.seed + i, log=log) for i in range(cfg.ensemble)]
    )


def _fit_member(
    x: torch.Tensor,
    examples: Sequence[D.Example],
    cfg: TrainConfig,
    seed: int,
    *,
    log: bool = True,
) -> TriageHeads:
    torch.manual_seed(seed)
    rng = random.Random(seed)
    labels = label_tensors(examples)
    pos_w = _pos_weights(labels)
    weights = torch.tensor([ex.weight for ex in examples])
    own_idx = [i for i, ex in enumerate(examples) if ex.source in ("own", "corrections")]
    base_idx = list(range(len(examples)))
    heads = TriageHeads(x.shape[1], cfg.hidden, all_tasks(), dropout=cfg.dropout)
    opt = torch.optim.AdamW(heads.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = (len(base_idx) + len(own_idx) * cfg.own_repeat) // cfg.batch_size + 1
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=steps_per_epoch * cfg.epochs, pct_start=0.1
    )
    for epoch in range(cfg.epochs):
        heads.train()
        order = base_idx + own_idx * cfg.own_repeat
        rng.shuffle(order)
        tot, nb = 0.0, 0
        for s in range(0, len(order), cfg.batch_size):
            if nb >= steps_per_epoch:
                break
            idx = torch.tensor(order[s : s + cfg.batch_size])
            batch = {k: (v[idx], m[idx]) for k, (v, m) in labels.items()}
            out = heads(x[idx])
            loss = compute_loss(out, batch, weights[idx], pos_w, cfg.task_weights)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item()
            nb += 1
        if log:
            print(f"  epoch {epoch + 1}/{cfg.epochs} loss {tot / max(1, nb):.4f}", file=sys.stderr)
    heads.eval()
    return heads


@torch.inference_mode()
def predict(heads: Heads, x: torch.Tensor) -> dict[str, torch.Tensor]:
    outs: dict[str, list[torch.Tensor]] = {}
    for s in range(0, len(x), 4096):
        for k, v in head_probabilities(heads(x[s : s + 4096])).items():
            outs.setdefault(k, []).append(v)
    return {k: torch.cat(v) for k, v in outs.items()}


def evaluate_tasks(probs: dict[str, torch.Tensor], examples: Sequence[D.Example]) -> dict:
    """Macro-F1 per public task on ``examples`` (those carrying the task's label)."""
    res: dict[str, dict] = {}
    for t in D.BINARY_TASKS:
        idx = [i for i, ex in enumerate(examples) if t in ex.labels]
        if not idx:
            continue
        y = [int(examples[i].labels[t]) for i in idx]
        p = [int(probs[t][i] >= 0.5) for i in idx]
        res[t] = {"macro_f1": macro_f1(y, p), "accuracy": accuracy(y, p), "n": len(idx)}
    for t in D.MULTICLASS_TASKS:
        idx = [i for i, ex in enumerate(examples) if t in ex.labels]
        if not idx:
            continue
        y = [int(examples[i].labels[t]) for i in idx]
        p = [int(probs[t][i].argmax()) for i in idx]
        res[t] = {"macro_f1": macro_f1(y, p), "accuracy": accuracy(y, p), "n": len(idx)}
    return res


def evaluate_own(probs: dict[str, torch.Tensor], examples: Sequence[D.Example], meta: dict) -> dict:
    """Category P/R/F1, sentiment accuracy and urgency ranking on own-set examples."""
    items = [TriageInput(ex.text, ex.language) for ex in examples]
    results = build_results(items, probs, meta, "eval")
    out: dict = {"n": len(examples), "categories": {}}
    f1s = []
    for j, c in enumerate(CATEGORIES):
        y = [int(ex.labels.get(f"cat:{c}", 0)) for ex in examples]
        p = [int(float(probs["cat"][i, j]) >= 0.5) for i in range(len(examples))]
        m = prf(y, p)
        out["categories"][c] = m
        if m["support"]:
            f1s.append(m["f1"])
    out["category_macro_f1"] = sum(f1s) / max(1, len(f1s))
    ys = [int(ex.labels["sent"]) for ex in examples if "sent" in ex.labels]
    ps = [int(probs["sent"][i].argmax()) for i, ex in enumerate(examples) if "sent" in ex.labels]
    out["sentiment_accuracy"] = accuracy(ys, ps)
    true_u = [100 * ex.labels["urg"] for ex in examples if "urg" in ex.labels]
    pred_u = [
        float(r.urgency) for r, ex in zip(results, examples, strict=True) if "urg" in ex.labels
    ]
    out["urgency"] = urgency_ranking(true_u, pred_u)
    return out


def urgency_ranking(true_u: Sequence[float], pred_u: Sequence[float]) -> dict:
    k = min(10, len(true_u))
    crit = [t >= 70 for t in true_u]
    return {
        "spearman": spearman(true_u, pred_u),
        f"ndcg@{k}": ndcg_at_k(true_u, pred_u, k),
        f"precision@{k}(urgency>=70)": precision_at_k(crit, pred_u, k),
        "mae": sum(abs(a - b) for a, b in zip(true_u, pred_u, strict=True)) / max(1, len(true_u)),
    }


# ------------------------------------------------------------------ mixed inbox check

CONCERNING_TASKS = {
    "complaint": "complaint",
    "ge21_toxic": "toxic",
    "ge18_offense": "toxic",
    "olid_off": "toxic",
    "crisis_info": "informative crisis",
}
OWN_CONCERNING = ("safety", "threat", "legal", "press", "outage", "complaint", "toxic")


def concern_label(ex: D.Example) -> str | None:
    """What makes an example 'concerning' for the mixed-inbox check, or None."""
    for task, name in CONCERNING_TASKS.items():
        if ex.labels.get(task) == 1:
            return name
    if ex.source in ("own", "corrections"):
        for c in OWN_CONCERNING:
            if ex.labels.get(f"cat:{c}") == 1:
                return "threat" if c == "threat" else f"own:{c}"
    return None


def benign_label(ex: D.Example) -> str | None:
    """Praise, spam or off-topic examples, which should rank low."""
    if ex.source in ("own", "corrections"):
        if ex.labels.get("cat:praise") == 1:
            return "praise"
        if ex.labels.get("cat:spam") == 1:
            return "spam"
    if ex.labels.get("crisis_topic") == 0:
        return "off-topic"
    if ex.source == "crisislex_t26" and ex.labels.get("cat:safety") == 0:
        return "off-topic"
    return None


def mixed_inbox_check(
    urgencies: Sequence[float], examples: Sequence[D.Example], *, top: int = 50, seed: int = 0
) -> dict:
    """Shuffle all messages together, rank by urgency, and look at the top and bottom."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    ranked = sorted(order, key=lambda i: -urgencies[i])[:top]
    top_labels = [concern_label(examples[i]) for i in ranked]
    by_kind: dict[str, int] = {}
    for lab in top_labels:
        key = lab or "other"
        by_kind[key] = by_kind.get(key, 0) + 1
    benign = [urgencies[i] for i, ex in enumerate(examples) if benign_label(ex)]
    rest = [urgencies[i] for i, ex in enumerate(examples) if not benign_label(ex)]
    concerning = [urgencies[i] for i, ex in enumerate(examples) if concern_label(ex)]
    return {
        "messages": len(examples),
        f"top{top}_concerning": sum(1 for lab in top_labels if lab),
        f"top{top}_by_kind": by_kind,
        "mean_urgency_praise_spam_offtopic": sum(benign) / max(1, len(benign)),
        "mean_urgency_rest": sum(rest) / max(1, len(rest)),
        "mean_urgency_concerning": sum(concerning) / max(1, len(concerning)),
        "n_praise_spam_offtopic": len(benign),
    }


# ------------------------------------------------------------------ orchestration


def load_examples(cfg: TrainConfig) -> list[D.Example]:
    pub = D.load_public(cfg.data_dir, t6_limit=cfg.t6_limit, t26_limit=cfg.t26_limit)
    D.assign_split(pub, cfg.seed, cfg.dev_percent)
    own = D.load_own(cfg.own_path)
    D.own_split(own, cfg.seed, cfg.own_heldout_percent)
    corr: list[D.Example] = []
    if cfg.corrections:
        corr = D.load_corrections(cfg.corrections)
        D.assign_split(corr, cfg.seed, 0)  # corrections always train
    return pub + own + corr


def _cached_layers_of(encoder: TextEncoder) -> TextEncoder:
    """The same model and tokenizer, pooling the layers training caches."""
    return TextEncoder(
        encoder.model,
        encoder.tokenize,
        pool_layers=CACHED_LAYERS,
        prefix=encoder.prefix,
        name=encoder.name,
        bf16=encoder.bf16,
    )


def feature_runtime(cfg: TrainConfig) -> str:
    """The runtime that embeds the training texts: the one that will serve the heads."""
    if cfg.finetune_epochs > 0:
        return "torch"  # the top layer is trained in torch on torch token states
    return resolve_runtime(cfg.runtime)


def feature_cache(cfg: TrainConfig, runtime: str) -> FeatureCache:
    """The on-disk feature cache of the default encoder under ``runtime``."""
    from triage.encoder import WEIGHTS_SHA256
    from triage.features import fingerprint

    source = WEIGHTS_SHA256
    if runtime == "onnx":
        from triage.onnx_encoder import RUNTIME  # names the export's format

        source = f"{WEIGHTS_SHA256}|{RUNTIME}"
    return FeatureCache(Path(cfg.feature_cache) / fingerprint(source, CACHED_LAYERS, QUERY_PREFIX))


def features_for(
    examples: Sequence[D.Example], cfg: TrainConfig, encoder: TextEncoder | None = None
) -> tuple[torch.Tensor, list | None]:
    """Cached frozen features (N, 4*H) and, when fine-tuning, per-text token states.

    ``encoder``: use this one instead of the default encoder (tests pass a tiny random
    model); its features are computed in memory, never read from or written to the
    on-disk cache, whose fingerprint only knows the default encoder's weights.
    """
    if encoder is not None:
        enc = _cached_layers_of(encoder)
        texts = [ex.text for ex in examples]
        if cfg.finetune_epochs > 0:
            pooled, toks = enc.embed_with_tokens(texts, token_layer=-2)
            return pooled, [t.numpy() for t in toks]
        return enc.embed(texts), None

    from triage.encoder import ensure_encoder
    from triage.features import TokenCache, embed_with_cache
    from triage.model import cpu_has_bf16, load_encoder

    runtime = feature_runtime(cfg)
    cache = feature_cache(cfg, runtime)
    tokens = TokenCache(cache.dir / "tokens-l-2") if cfg.finetune_epochs > 0 else None
    texts = [ex.text for ex in examples]
    missing = cache.missing(texts) or (tokens and any(not tokens.has(t) for t in texts))
    if missing:
        torch.set_num_threads(cfg.threads)
        enc_path = ensure_encoder(cfg.cache_dir)
        embedder: Any  # TextEncoder, or OnnxEncoder (no token states: never fine-tuning)
        if runtime == "onnx":
            from triage.onnx_encoder import load_onnx_encoder

            embedder = load_onnx_encoder(
                enc_path, pool_layers=CACHED_LAYERS, prefix=QUERY_PREFIX, threads=cfg.threads
            )
        else:
            embedder = load_encoder(enc_path, pool_layers=CACHED_LAYERS, bf16=cpu_has_bf16())
        full = embed_with_cache(embedder, texts, cache, tokens=tokens, token_layer=-2)
    else:
        full = cache.get(texts)
    token_states = [tokens.get(t) for t in texts] if tokens is not None else None
    return full, token_states


def run_training(
    cfg: TrainConfig,
    *,
    write: bool = True,
    log: bool = True,
    encoder: TextEncoder | None = None,
) -> dict:
    """Train, evaluate on the dev split, write the artifact; returns the dev metrics.

    ``encoder``: train on this encoder's features instead of the default
    multilingual-e5-small (tests use :func:`triage.model.tiny_random_encoder`; it needs
    at least 3 layers, the cached features pool the last four hidden states). The same
    config, data and encoder give the same metrics and byte-identical artifact files.
    """
    t0 = time.monotonic()
    torch.set_num_threads(cfg.threads)
    examples = load_examples(cfg)
    if cfg.cached_only and encoder is None:
        from triage.features import text_key

        fc = feature_cache(cfg, feature_runtime(cfg))
        examples = [ex for ex in examples if text_key(ex.text) in fc.index]
    full, token_states = features_for(examples, cfg, encoder)
    if cfg.finetune_epochs > 0:
        cfg.pool_layers = (-2, -1)
        cfg.ensemble = 1  # the top layer is fine-tuned together with one set of heads
    x = select_features(full, cfg.pool_layers)
    train_idx = [i for i, ex in enumerate(examples) if ex.split == "train"]
    dev_idx = [i for i, ex in enumerate(examples) if ex.split == "dev"]
    train_ex = [examples[i] for i in train_idx]
    dev_ex = [examples[i] for i in dev_idx]
    if log:
        print(
            f"examples: {len(train_ex)} train, {len(dev_ex)} dev; features {x.shape[1]}",
            file=sys.stderr,
        )
    heads = fit_heads(x[train_idx], train_ex, cfg, log=log)
    top_layer = None
    if cfg.finetune_epochs > 0 and token_states is not None:
        assert isinstance(heads, TriageHeads)
        top = _finetune(heads, [token_states[i] for i in train_idx], train_ex, cfg, log, encoder)
        heads, top_layer = top.heads, top.layer
        from triage.finetune import pooled_features

        x = pooled_features(top, token_states)
    meta = {
        "encoder": "multilingual-e5-small" if encoder is None else encoder.name,
        "pool_layers": list(cfg.pool_layers),
        "prefix": QUERY_PREFIX,
        "runtime": "torch" if encoder is not None else runtime_name(feature_runtime(cfg)),
        "urgency": {"blend": DEFAULT_BLEND},
        "seed": cfg.seed,
        "config": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(cfg).items()
            if k not in ("data_dir", "out_dir", "cache_dir", "feature_cache", "own_path")
        },
    }
    probs = predict(heads, x[dev_idx])
    task_metrics = evaluate_tasks(probs, dev_ex)
    own_dev = [i for i, ex in enumerate(dev_ex) if ex.source == "own"]
    own_probs = {k: v[own_dev] for k, v in probs.items()}
    own_metrics = evaluate_own(own_probs, [dev_ex[i] for i in own_dev], meta)
    dev_results = build_results(
        [TriageInput(ex.text, ex.language) for ex in dev_ex], probs, meta, "eval"
    )
    inbox = mixed_inbox_check([r.urgency for r in dev_results], dev_ex)
    metrics = {"dev_tasks": task_metrics, "own_heldout": own_metrics, "mixed_inbox": inbox}
    if cfg.final_fit:
        heads = fit_heads(x, examples, cfg, log=log)
    meta["metrics"] = metrics
    # no wall-clock time in the artifact: the same seed writes the same bytes
    if log:
        print(f"trained in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    if write:
        out_dir = Path(cfg.out_dir)
        stale = out_dir / "top_layer.safetensors"
        if top_layer is not None:
            from safetensors.torch import save_file

            meta["top_layer"] = "top_layer.safetensors"
            out_dir.mkdir(parents=True, exist_ok=True)
            save_file(
                {k: v.detach().half().contiguous() for k, v in top_layer.state_dict().items()},
                str(stale),
            )
        elif stale.exists():
            stale.unlink()
        save_heads(heads, meta, out_dir)
    return metrics


def _finetune(
    heads: TriageHeads,
    token_states: list,
    examples: list,
    cfg: TrainConfig,
    log: bool,
    encoder: TextEncoder | None = None,
):
    from triage.encoder import ensure_encoder
    from triage.finetune import finetune_top_layer
    from triage.model import load_encoder

    enc = encoder if encoder is not None else load_encoder(ensure_encoder(cfg.cache_dir))
    top: torch.nn.Module = enc.model.encoder.layer[-1]  # type: ignore[union-attr,index,assignment]
    labels = label_tensors(examples)
    pos_w = _pos_weights(labels)
    weights = torch.tensor([ex.weight for ex in examples])
    own_idx = [i for i, ex in enumerate(examples) if ex.source in ("own", "corrections")]

    def loss_fn(out, batch, w):
        return compute_loss(out, batch, w, pos_w, cfg.task_weights)

    return finetune_top_layer(
        top,
        heads,
        token_states,
        examples,
        loss_fn=loss_fn,
        labels=labels,
        weights=weights,
        own_idx=own_idx,
        own_repeat=max(1, cfg.own_repeat // 2),
        epochs=cfg.finetune_epochs,
        lr_layer=cfg.finetune_lr,
        seed=cfg.seed,
        log=log,
    )


def format_report(metrics: dict) -> str:
    lines = ["task              dev macro-F1   published best (official test)"]
    for t, m in metrics["dev_tasks"].items():
        best, who = D.PUBLISHED_BEST.get(t, (None, ""))
        b = f"{best:.3f}  {who}" if best is not None else who
        lines.append(f"{t:<17} {m['macro_f1']:.3f} (n={m['n']:<5}) {b}")
    own = metrics["own_heldout"]
    lines.append("")
    lines.append(
        f"own held-out (n={own['n']}): category macro-F1 {own['category_macro_f1']:.3f}, "
        f"sentiment acc {own['sentiment_accuracy']:.3f}"
    )
    for c, m in own["categories"].items():
        if m["support"]:
            lines.append(
                f"  {c:<11} P {m['precision']:.2f} R {m['recall']:.2f} F1 {m['f1']:.2f} "
                f"(n={m['support']})"
            )
    lines.append("  urgency: " + ", ".join(f"{k} {v:.3f}" for k, v in own["urgency"].items()))
    inbox = metrics["mixed_inbox"]
    lines.append("")
    lines.append(
        f"mixed inbox ({inbox['messages']} dev messages): top-50 concerning "
        f"{inbox['top50_concerning']}/50 {inbox['top50_by_kind']}; mean urgency "
        f"praise/spam/off-topic {inbox['mean_urgency_praise_spam_offtopic']:.1f} vs rest "
        f"{inbox['mean_urgency_rest']:.1f} (concerning {inbox['mean_urgency_concerning']:.1f})"
    )
    return "\n".join(lines)
