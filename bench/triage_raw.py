"""Raw triage model speed: messages/s for batch 1, 8 and 32 at 1 and 2 threads, for each
encoder runtime (int8 ONNX, the service's default; torch fp32; torch bf16 autocast), the raw
forward pass (tokenize + encoder + heads) against ``Triager.score`` (which adds the urgency
rules, reasons and language detection). The ONNX rows also carry their speed-up over torch
fp32 at the same threads and batch, measured in the same run.

Usage: ``nice -n 10 .venv/bin/python -m bench.triage_raw [--seconds 8]`` (as a module:
``bench/triage.py`` would shadow the ``triage`` package otherwise). Ends with one
JSON line per figure as PRODUCT.md defines.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch

from triage.model import TriageInput, load_triager

TEXTS = [
    "Euer Babybrei hat meinen Sohn ins Krankenhaus gebracht, mein Anwalt meldet sich",
    "Your baby food put my son in hospital, my lawyer will be in touch",
    "Wann öffnet ihr am Samstag?",
    "The app has been down since this morning, I cannot access my account!",
    "Danke für die superschnelle Lieferung, alles bestens angekommen!",
    "I ordered three weeks ago and still nothing. Customer service does not answer.",
    "Guten Tag, hier ist die Redaktion, wir bitten um eine Stellungnahme bis 16 Uhr.",
    "Earn 5000 dollars a week from home! Click the link in my bio.",
]


def rate(fn, batch: list, seconds: float) -> float:
    fn(batch)  # warm-up
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn(batch)
        n += len(batch)
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=6.0)
    args = ap.parse_args()
    figures = []
    fp32: dict[tuple[int, int], float] = {}
    for variant in ("fp32", "bf16", "onnx"):
        for threads in (1, 2):
            # ONNX Runtime fixes its thread count when the session is made
            triager = load_triager(
                None,
                threads=threads,
                bf16=variant == "bf16",
                runtime="onnx" if variant == "onnx" else "torch",
            )
            torch.set_num_threads(threads)
            for bs in (1, 8, 32):
                texts = (TEXTS * 8)[:bs]
                items = [TriageInput(t) for t in texts]
                raw = rate(triager.raw_scores, texts, args.seconds)
                full = rate(triager.score, items, args.seconds)
                tag = f"{variant}_t{threads}_b{bs}"
                if variant == "fp32":
                    fp32[(threads, bs)] = raw
                base = fp32[(threads, bs)] if variant == "onnx" else None
                figures.append(
                    {
                        "figure": f"triage_raw_forward_{tag}",
                        "value": round(raw, 1),
                        "unit": "msg/s",
                        "baseline": round(base, 1) if base else None,
                        "ratio": round(raw / base, 2) if base else None,
                        "bar": "informational: raw batched forward pass"
                        + (" (baseline: torch fp32)" if base else ""),
                        "met": True,
                    }
                )
                figures.append(
                    {
                        "figure": f"triage_score_{tag}",
                        "value": round(full, 1),
                        "unit": "msg/s",
                        "baseline": round(raw, 1),
                        "ratio": round(full / raw, 3),
                        "bar": "score() >= 90 % of the raw forward pass",
                        "met": full / raw >= 0.9,
                    }
                )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures.append(
        {
            "figure": "triage_peak_rss",
            "value": round(rss),
            "unit": "MiB",
            "baseline": None,
            "ratio": None,
            "bar": "informational",
            "met": True,
        }
    )
    for f in figures:
        print(json.dumps(f))


if __name__ == "__main__":
    main()
