"""``leitstand triage`` commands: score, train, eval, inbox-check, build-encoder."""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from triage.data import DEFAULT_DATA_DIR
from triage.urgency import CATEGORIES

triage_app = typer.Typer(help="The triage model: score, train and evaluate.", no_args_is_help=True)

ModelPathOpt = Annotated[
    Path | None,
    typer.Option(
        "--model-path",
        envvar="LEITSTAND_TRIAGE_MODEL",
        help="a local transformers folder (default: the bundled encoder)",
    ),
]
ThreadsOpt = Annotated[
    int, typer.Option("--threads", envvar="LEITSTAND_TRIAGE_THREADS", help="torch threads")
]
CacheOpt = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        envvar="LEITSTAND_MODEL_CACHE_DIR",
        help="where the rebuilt encoder folder lives",
    ),
]
ArtifactsOpt = Annotated[
    Path | None, typer.Option("--artifacts-dir", help="trained heads (default: bundled)")
]

#: tests replace this to score with the tiny random model
_triager_factory: Callable[..., object] | None = None
#: tests replace this to train on a tiny random encoder (``triage.model.tiny_random_encoder``)
_encoder_factory: Callable[[], Any] | None = None


def _load(model_path: Path | None, threads: int, cache_dir: Path | None, artifacts: Path | None):
    if _triager_factory is not None:
        return _triager_factory()
    from triage.model import ModelFolderError, load_triager

    try:
        return load_triager(
            model_path, threads=threads, cache_dir=cache_dir, artifacts_dir=artifacts
        )
    except ModelFolderError as exc:
        raise typer.BadParameter(
            str(exc), param_hint="--model-path / LEITSTAND_TRIAGE_MODEL"
        ) from exc


def _batches(lines: Iterable[str], size: int) -> Iterator[list[tuple[int, str]]]:
    batch: list[tuple[int, str]] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        batch.append((n, line))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _followers(value: object) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return max(0, int(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


@triage_app.command()
def score(
    model_path: ModelPathOpt = None,
    threads: ThreadsOpt = 1,
    batch_size: Annotated[int, typer.Option(help="messages per forward pass")] = 32,
    cache_dir: CacheOpt = None,
    artifacts_dir: ArtifactsOpt = None,
) -> None:
    """JSON lines in on stdin ({"id", "text", optional "language", "author_followers"}),
    JSON lines out (id, urgency, categories, sentiment, language, reasons, model_version).
    A line that cannot be read gives {"id", "error"} and scoring goes on."""
    from triage.model import TriageInput

    triager = _load(model_path, threads, cache_dir, artifacts_dir)
    out = sys.stdout
    for batch in _batches(sys.stdin, batch_size):
        # one output line per input line, in input order; bad lines become errors
        rows: list[dict] = []
        good: list[tuple[int, TriageInput]] = []
        for n, line in batch:
            obj: object = None
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                    raise ValueError('expected an object with a string "text"')
                lang = obj.get("language")
                item = TriageInput(
                    obj["text"],
                    lang if isinstance(lang, str) else None,
                    _followers(obj.get("author_followers")),
                )
                good.append((len(rows), item))
                rows.append({"id": obj.get("id")})
            except ValueError as exc:
                ident = obj.get("id") if isinstance(obj, dict) else None
                rows.append({"id": ident, "line": n, "error": str(exc)})
        results = triager.score([item for _, item in good]) if good else []
        for (pos, _), res in zip(good, results, strict=True):
            rows[pos].update(res.to_dict())
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        out.flush()


@triage_app.command()
def train(
    data_dir: Annotated[Path, typer.Option(help="folder with the public labelled sets")] = Path(
        DEFAULT_DATA_DIR
    ),
    corrections: Annotated[
        Path | None,
        typer.Option(help="agent corrections, JSON lines: text, urgency?, categories?"),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(help="where to write the artifact (default: bundled, or --model-path)"),
    ] = None,
    model_path: Annotated[
        Path | None,
        typer.Option(
            "--model-path",
            help="train heads for this local transformers folder instead of the bundled "
            "encoder; they are written into it unless --out-dir says otherwise",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed (split and training)")] = 13,
    epochs: Annotated[int, typer.Option()] = 14,
    threads: Annotated[int, typer.Option()] = 2,
    cache_dir: CacheOpt = None,
    final_fit: Annotated[
        bool, typer.Option(help="after reporting, refit on train+dev for the artifact")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print metrics as JSON")] = False,
) -> None:
    """Train the heads (seeded, reproducible); print dev metrics; write the artifact."""
    from triage.model import ARTIFACTS_DIR
    from triage.train import TrainConfig, format_report, run_training

    if not data_dir.is_dir():
        raise typer.BadParameter(f"{data_dir} is not a folder", param_hint="--data-dir")
    if corrections is not None and not corrections.is_file():
        raise typer.BadParameter(f"{corrections} does not exist", param_hint="--corrections")
    if model_path is not None and not (model_path / "config.json").is_file():
        raise typer.BadParameter(
            f"{model_path} is not a transformers model folder", param_hint="--model-path"
        )
    cfg = TrainConfig(
        data_dir=data_dir,
        corrections=corrections,
        out_dir=out_dir or model_path or ARTIFACTS_DIR,
        seed=seed,
        epochs=epochs,
        threads=threads,
        cache_dir=cache_dir,
        final_fit=final_fit,
    )
    encoder = None
    if _encoder_factory is not None:
        encoder = _encoder_factory()
    elif model_path is not None:
        from triage.model import load_encoder

        encoder = load_encoder(model_path)
    metrics = run_training(cfg, encoder=encoder)
    if json_out:
        typer.echo(json.dumps(metrics, indent=2))
    else:
        typer.echo(format_report(metrics))
    typer.echo(f"artifact written to {cfg.out_dir}")


def read_eval_csv(path: Path) -> tuple[list[str], dict[str, list[int]], list[float] | None]:
    """A ``text`` column; category labels as 0/1 columns named like the categories or a
    ``categories`` column ("safety|legal"); optional ``urgency`` (0-100)."""
    from triage.data import parse_categories

    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "text" not in rows[0]:
        raise typer.BadParameter(f"{path} needs a header with a 'text' column")
    cols = rows[0].keys()
    texts = [r["text"] for r in rows]
    labels: dict[str, list[int]] = {}
    for c in CATEGORIES:
        if c in cols:
            labels[c] = [int(float(r[c] or 0) >= 0.5) for r in rows]
    if "categories" in cols and not labels:
        parsed = [parse_categories(r["categories"]) for r in rows]
        labels = {c: [int(c in p) for p in parsed] for c in CATEGORIES}
    urg = [float(r["urgency"]) for r in rows] if "urgency" in cols else None
    return texts, labels, urg


def evaluate_file(triager: object, path: Path, threshold: float = 0.5, k: int = 10) -> dict:
    from triage.metrics import macro_f1, ndcg_at_k, precision_at_k, prf, spearman
    from triage.model import TriageInput

    texts, labels, urg = read_eval_csv(path)
    results = []
    for s in range(0, len(texts), 64):
        chunk = [TriageInput(t) for t in texts[s : s + 64]]
        results.extend(triager.score(chunk))  # type: ignore[attr-defined]
    report: dict = {"n": len(texts), "categories": {}}
    f1s = []
    for c, y in labels.items():
        p = [int(r.categories[c] >= threshold) for r in results]
        m = prf(y, p)
        report["categories"][c] = m
        if m["support"]:
            f1s.append(m["f1"])
            m["macro_f1_binary"] = macro_f1(y, p)
    if f1s:
        report["mean_f1"] = sum(f1s) / len(f1s)
    if urg is not None:
        pred = [float(r.urgency) for r in results]
        kk = min(k, len(pred))
        report["urgency"] = {
            "spearman": spearman(urg, pred),
            f"ndcg@{kk}": ndcg_at_k(urg, pred, kk),
            f"precision@{kk}": precision_at_k([u >= 70 for u in urg], pred, kk),
            "mae": sum(abs(a - b) for a, b in zip(urg, pred, strict=True)) / len(pred),
        }
    return report


@triage_app.command("eval")
def eval_cmd(
    data: Annotated[Path, typer.Option("--data", help="CSV: text + label columns")],
    model_path: ModelPathOpt = None,
    threads: ThreadsOpt = 1,
    cache_dir: CacheOpt = None,
    artifacts_dir: ArtifactsOpt = None,
    threshold: Annotated[float, typer.Option(help="probability threshold")] = 0.5,
    k: Annotated[int, typer.Option(help="k for NDCG@k and precision@k")] = 10,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Precision, recall and F1 per category; Spearman, NDCG@k, precision@k for urgency."""
    if not data.is_file():
        raise typer.BadParameter(f"{data} does not exist", param_hint="--data")
    triager = _load(model_path, threads, cache_dir, artifacts_dir)
    report = evaluate_file(triager, data, threshold, k)
    if json_out:
        typer.echo(json.dumps(report, indent=2))
        return
    typer.echo(f"{report['n']} messages")
    typer.echo(f"{'category':<11} {'precision':>9} {'recall':>7} {'F1':>6} {'support':>8}")
    for c, m in report["categories"].items():
        typer.echo(
            f"{c:<11} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f} {m['support']:>8}"
        )
    if "mean_f1" in report:
        typer.echo(f"mean F1 over categories present: {report['mean_f1']:.3f}")
    if "urgency" in report:
        typer.echo("urgency: " + ", ".join(f"{a} {b:.3f}" for a, b in report["urgency"].items()))


@triage_app.command("inbox-check")
def inbox_check(
    data_dir: Annotated[Path, typer.Option()] = DEFAULT_DATA_DIR,
    model_path: ModelPathOpt = None,
    threads: ThreadsOpt = 2,
    seed: Annotated[int, typer.Option()] = 13,
    per_set: Annotated[int, typer.Option(help="dev messages per set")] = 300,
) -> None:
    """Mixed-inbox ranking check on dev messages from every set, shuffled together."""
    import random

    from triage.model import TriageInput
    from triage.train import TrainConfig, load_examples, mixed_inbox_check

    examples = [
        ex for ex in load_examples(TrainConfig(data_dir=data_dir, seed=seed)) if ex.split == "dev"
    ]
    by_source: dict[str, list] = {}
    for ex in examples:
        by_source.setdefault(ex.source, []).append(ex)
    rng = random.Random(seed)
    sample = []
    for src in sorted(by_source):
        items = by_source[src]
        sample.extend(rng.sample(items, min(per_set, len(items))))
    triager = _load(model_path, threads, None, None)
    results = triager.score([TriageInput(ex.text, ex.language) for ex in sample])
    report = mixed_inbox_check([r.urgency for r in results], sample, seed=seed)
    typer.echo(json.dumps(report, indent=2))


@triage_app.command("build-encoder")
def build_encoder_cmd(cache_dir: CacheOpt = None) -> None:
    """Rebuild the encoder folder from the installed packages if it is missing, and its
    int8 ONNX export when ONNX Runtime is installed (the service's default runtime)."""
    from triage.encoder import ensure_encoder
    from triage.onnx_encoder import ensure_onnx, runtime_available

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path = ensure_encoder(cache_dir)
    typer.echo(str(path))
    if runtime_available():
        typer.echo(str(ensure_onnx(path)))


if __name__ == "__main__":
    triage_app()
