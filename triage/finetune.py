"""Fine-tune the encoder's top layer together with the heads, on cached layer inputs.

The frozen encoder's layers 0-10 run once per text (``triage.features.TokenCache``
stores the token states that enter the last layer). Training then runs only the last
``BertLayer`` plus the heads, forward and backward, which costs about a quarter of a
full forward pass per epoch on this CPU. The committed artifact adds the fine-tuned
layer (``top_layer.safetensors``, float16, ~3.5 MB) to the heads; at inference the
layer is loaded into the encoder in place of the original top layer.

Features stay "mean-pooled hidden states of layers -2 and -1": layer -2 (the input of
the top layer) is unchanged, layer -1 is the fine-tuned layer's output.
"""

from __future__ import annotations

import copy
import random
import sys
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from triage.model import TriageHeads

TOP_LAYER_FILE = "top_layer.safetensors"


def additive_mask(mask: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B, T) 0/1 → (B, 1, 1, T) additive attention mask."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


class TopLayerModel(nn.Module):
    def __init__(self, layer: nn.Module, heads: TriageHeads) -> None:
        super().__init__()
        self.layer = layer
        self.heads = heads

    def pooled(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = self.layer(states, attention_mask=additive_mask(mask))
        if isinstance(out, tuple):
            out = out[0]
        m = mask.unsqueeze(-1).to(states.dtype)
        denom = m.sum(1).clamp(min=1.0)
        return torch.cat([(states * m).sum(1) / denom, (out * m).sum(1) / denom], dim=-1)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.heads(self.pooled(states, mask))


def pad_batch(arrays: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    n = max(len(a) for a in arrays)
    h = arrays[0].shape[1]
    states = torch.zeros((len(arrays), n, h))
    mask = torch.zeros((len(arrays), n))
    for i, a in enumerate(arrays):
        states[i, : len(a)] = torch.from_numpy(a.astype(np.float32))
        mask[i, : len(a)] = 1
    return states, mask


def length_batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Batches of similar length (little padding), in random order."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    # sort within windows of 50 batches so batches stay random but similar in length
    window = batch_size * 50
    batches = []
    for s in range(0, len(order), window):
        part = sorted(order[s : s + window], key=lambda i: lengths[i])
        batches += [part[j : j + batch_size] for j in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def finetune_top_layer(
    top_layer: nn.Module,
    heads: TriageHeads,
    token_states: Sequence[np.ndarray],
    examples: Sequence,
    *,
    loss_fn,
    labels: dict[str, tuple[torch.Tensor, torch.Tensor]],
    weights: torch.Tensor,
    own_idx: Sequence[int],
    own_repeat: int,
    epochs: int = 2,
    lr_layer: float = 4e-5,
    lr_heads: float = 4e-4,
    batch_size: int = 64,
    seed: int = 13,
    log: bool = True,
) -> TopLayerModel:
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = TopLayerModel(copy.deepcopy(top_layer), copy.deepcopy(heads))
    opt = torch.optim.AdamW(
        [
            {"params": model.layer.parameters(), "lr": lr_layer},
            {"params": model.heads.parameters(), "lr": lr_heads},
        ],
        weight_decay=0.01,
    )
    lengths = [len(a) for a in token_states]
    base = list(range(len(token_states)))
    pool = base + list(own_idx) * own_repeat
    n_batches = (len(pool) + batch_size - 1) // batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=[lr_layer, lr_heads], total_steps=n_batches * epochs, pct_start=0.1
    )
    for epoch in range(epochs):
        model.train()
        pool_lengths = [lengths[i] for i in pool]
        tot = 0.0
        batches = length_batches(pool_lengths, batch_size, rng)
        for b, positions in enumerate(batches):
            idx = [pool[p] for p in positions]
            states, mask = pad_batch([token_states[i] for i in idx])
            it = torch.tensor(idx)
            batch = {k: (v[it], m[it]) for k, (v, m) in labels.items()}
            loss = loss_fn(model(states, mask), batch, weights[it])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            tot += loss.item()
            if log and (b + 1) % 100 == 0:
                print(
                    f"  fine-tune epoch {epoch + 1} batch {b + 1}/{len(batches)} "
                    f"loss {tot / (b + 1):.4f}",
                    file=sys.stderr,
                    flush=True,
                )
    model.eval()
    return model


@torch.inference_mode()
def pooled_features(
    model: TopLayerModel, token_states: Sequence[np.ndarray], batch_size: int = 128
) -> torch.Tensor:
    order = sorted(range(len(token_states)), key=lambda i: len(token_states[i]))
    out = torch.empty((len(token_states), model.heads.in_dim))
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        states, mask = pad_batch([token_states[i] for i in idx])
        out[torch.tensor(idx)] = model.pooled(states, mask)
    return out
