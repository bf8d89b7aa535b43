"""The encoder as int8 ONNX: the same multilingual-e5-small, three to four times faster.

A message that could be a crisis waits for the encoder before anything else can happen, so
its speed on the small batches of a live inbox is most of the alert latency. On this kind of
machine (2 cores, one thread for the model) the torch encoder needs about 28 ms for one
message and 90-150 ms for eight; the same network exported to ONNX with its matrices
quantised to int8 (per output channel; one product with outlier inputs stays fp32, see
:data:`FP32_MATMULS`) needs about 7 and 40 ms under ONNX Runtime (``bench/triage_raw.py``
compares them). Its pooled embeddings sit at cosine 0.997 to the fp32 ones; the heads
are trained on the features of the runtime that serves them (``meta.json`` records it).

The ONNX file is built once from the transformers folder :mod:`triage.encoder` writes
(about 15 s: export, then dynamic quantisation), into
``<encoder folder>/onnx-int8/<key>/model.onnx`` next to a stamp that names its sources;
``key`` is ``base``, or the checksum of a fine-tuned top layer (:mod:`triage.finetune`) the
export then includes. Building needs ``onnx`` and ``onnxscript``; serving only
``onnxruntime`` and ``tokenizers``.

The graph returns the mean-pooled last four hidden states (the layers training caches,
``triage.train.CACHED_LAYERS``); :class:`OnnxEncoder` keeps the ones the heads were
trained on.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from triage.encoder import make_readable, sha256_file
from triage.model import MAX_TOKENS, Tokenize, _fast_tokenizer, embed_by_length

#: bumped whenever the exported graph or its quantisation changes
ONNX_FORMAT = 2
#: what ``meta.json`` records for heads trained on this runtime's features
RUNTIME = f"onnx-int8/{ONNX_FORMAT}"
#: Matrix products left in fp32. The input of layer 4's feed-forward output projection
#: carries outlier activations, and int8 with one scale per tensor loses the small values
#: beside them: quantising it alone cost most of the error. Measured on 194 messages (the
#: own set and the critical message with 34 names) against fp32: everything in int8,
#: cosine mean 0.9943 / min 0.9872; this one product in fp32, 0.9974 / 0.9957, at the same
#: speed (batch 8: 61 vs 60 ms). Leaving any other layer's product in fp32 as well changed
#: neither figure, all twelve feed-forward outputs made batch 8 60 % slower.
FP32_MATMULS = ("encoder/layer.4/output/dense/MatMul",)
#: the hidden states the graph pools, counted from the last
EXPORTED_LAYERS = (-4, -3, -2, -1)
ONNX_FILE = "model.onnx"
STAMP_FILE = "leitstand_onnx.json"


class OnnxUnavailable(RuntimeError):
    """ONNX Runtime (or, to build, ``onnx`` / ``onnxscript``) is not installed."""


def runtime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def onnx_dir(encoder_path: Path, top_layer: Path | None = None) -> Path:
    key = sha256_file(top_layer)[:16] if top_layer is not None else "base"
    return Path(encoder_path) / "onnx-int8" / key


def _stamp(encoder_path: Path, top_layer: Path | None) -> dict[str, Any]:
    # the default encoder's own stamp names the checksums of what it was built from
    source = Path(encoder_path) / "leitstand_build.json"
    return {
        "format": ONNX_FORMAT,
        "runtime": RUNTIME,
        "layers": list(EXPORTED_LAYERS),
        "encoder_build": json.loads(source.read_text()),
        "top_layer_sha256": sha256_file(top_layer) if top_layer is not None else None,
    }


def is_exported(target: Path, encoder_path: Path, top_layer: Path | None = None) -> bool:
    stamp = target / STAMP_FILE
    if not stamp.is_file() or not (target / ONNX_FILE).is_file():
        return False
    try:
        return bool(json.loads(stamp.read_text()) == _stamp(encoder_path, top_layer))
    except (OSError, ValueError):
        return False


class _PooledLayers(torch.nn.Module):
    """The encoder with mean pooling over :data:`EXPORTED_LAYERS`, as one graph."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # keyword arguments: a positional call collides with `use_cache` (MODELS.md)
        out = self.model(
            input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True
        )
        mask = attention_mask.unsqueeze(-1).to(out.hidden_states[-1].dtype)
        denom = mask.sum(1).clamp(min=1.0)
        return torch.cat(
            [(out.hidden_states[i] * mask).sum(1) / denom for i in EXPORTED_LAYERS], dim=-1
        )


def export_int8(encoder_path: Path, target: Path, top_layer: Path | None = None) -> Path:
    """Export the transformers folder to int8 ONNX in ``target`` (built aside, then renamed
    into place, so a crash never leaves half a model)."""
    try:
        import onnx
        import onnxscript  # noqa: F401
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise OnnxUnavailable(f"building the ONNX encoder needs {exc.name}") from exc
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    os.environ["HF_HUB_OFFLINE"] = "1"
    hf_logging.disable_progress_bar()
    model = AutoModel.from_pretrained(
        str(encoder_path),
        local_files_only=True,
        add_pooling_layer=False,
        attn_implementation="eager",  # the SDPA path does not export with dynamic shapes
    ).eval()
    if top_layer is not None:
        from safetensors.torch import load_file

        layer: torch.nn.Module = model.encoder.layer[-1]
        layer.load_state_dict({k: v.float() for k, v in load_file(str(top_layer)).items()})
    wrapped = _PooledLayers(model).eval()
    ids = torch.tensor([[0, 41, 1284, 2], [0, 1284, 2, 1]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    quant_log = logging.getLogger()  # the quantiser logs a pre-processing hint at WARNING
    level = quant_log.level
    try:
        fp32 = tmp / "model-fp32.onnx"
        # The tracer warns about the attention-mask code's Python branches and index ops;
        # the export is checked against torch, padded batches included (tests/triage).
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapped,
                (ids, mask),
                str(fp32),
                input_names=["input_ids", "attention_mask"],
                output_names=["pooled"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "tokens"},
                    "attention_mask": {0: "batch", 1: "tokens"},
                    "pooled": {0: "batch"},
                },
                opset_version=17,
                dynamo=False,
            )
        graph = onnx.load(str(fp32), load_external_data=False).graph
        keep = [n.name for n in graph.node if n.name.endswith(FP32_MATMULS)]
        if len(keep) != len(FP32_MATMULS):
            raise RuntimeError(f"the exported graph lacks {FP32_MATMULS}: found {keep}")
        quant_log.setLevel(logging.ERROR)
        quantize_dynamic(
            str(fp32),
            str(tmp / ONNX_FILE),
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=keep,
        )
        fp32.unlink()
        (tmp / STAMP_FILE).write_text(json.dumps(_stamp(encoder_path, top_layer), indent=2))
        make_readable(tmp)
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        quant_log.setLevel(level)
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def ensure_onnx(encoder_path: Path, top_layer: Path | None = None) -> Path:
    """The int8 ONNX folder for this encoder (and fine-tuned top layer), built if missing.

    Processes that start together (a server and its workers) build it once: the first
    takes a file lock and builds, the others wait for the lock and find it built."""
    import fcntl

    target = onnx_dir(encoder_path, top_layer)
    if is_exported(target, encoder_path, top_layer):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = os.open(target.parent / ".build.lock", os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_exported(target, encoder_path, top_layer):
            export_int8(encoder_path, target, top_layer)
    finally:
        os.close(lock)  # releases the lock
    return target


def load_onnx_encoder(
    encoder_path: Path,
    *,
    pool_layers: Sequence[int],
    prefix: str,
    threads: int = 1,
    top_layer: Path | None = None,
) -> OnnxEncoder:
    """The default encoder folder as int8 ONNX (exported first if needed), named
    ``<folder>-int8``, with the folder's own tokenizer."""
    config = json.loads((Path(encoder_path) / "config.json").read_text())
    return OnnxEncoder(
        ensure_onnx(encoder_path, top_layer),
        _fast_tokenizer(Path(encoder_path) / "tokenizer.json", MAX_TOKENS),
        hidden_size=int(config["hidden_size"]),
        pool_layers=pool_layers,
        prefix=prefix,
        name=f"{Path(encoder_path).name}-int8",
        threads=threads,
    )


class OnnxEncoder:
    """Tokenizer + int8 ONNX encoder, with :class:`triage.model.TextEncoder`'s interface."""

    def __init__(
        self,
        folder: Path,
        tokenize: Tokenize,
        *,
        hidden_size: int,
        pool_layers: Sequence[int] = (-1,),
        prefix: str,
        name: str,
        threads: int = 1,
    ) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise OnnxUnavailable("the ONNX encoder needs onnxruntime") from exc
        unknown = [i for i in pool_layers if i not in EXPORTED_LAYERS]
        if unknown:
            raise ValueError(f"layers {unknown} are not in the exported graph {EXPORTED_LAYERS}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, int(threads))
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # no busy-waiting threads: the model shares two cores with the service
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(Path(folder) / ONNX_FILE), options, providers=["CPUExecutionProvider"]
        )
        self.tokenize = tokenize
        self.pool_layers = tuple(pool_layers)
        self.prefix = prefix
        self.name = name
        self.hidden_size = int(hidden_size)
        h = self.hidden_size
        self._columns = np.concatenate(
            [np.arange(h) + EXPORTED_LAYERS.index(i) * h for i in self.pool_layers]
        )

    @property
    def out_dim(self) -> int:
        return self.hidden_size * len(self.pool_layers)

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> torch.Tensor:
        """Embed texts; sorts by length inside the call so batches pad little."""

        def forward(batch: dict[str, torch.Tensor]) -> torch.Tensor:
            (pooled,) = self.session.run(
                None,
                {
                    "input_ids": batch["input_ids"].numpy(),
                    "attention_mask": batch["attention_mask"].numpy(),
                },
            )
            return torch.from_numpy(pooled[:, self._columns])

        return embed_by_length(self, texts, batch_size, forward)
