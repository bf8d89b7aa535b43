"""Plain-Python metrics (no scikit-learn): F1, ranking metrics for urgency."""

from __future__ import annotations

import math
from collections.abc import Sequence


def prf(y_true: Sequence[int], y_pred: Sequence[int], positive: int = 1) -> dict[str, float]:
    """Precision, recall, F1 and support of one class."""
    tp = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == positive and p == positive)
    fp = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t != positive and p == positive)
    fn = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == positive and p != positive)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}


def macro_f1(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """Macro-averaged F1 over the classes present in ``y_true`` or ``y_pred``."""
    classes = sorted(set(y_true) | set(y_pred))
    if not classes:
        return 0.0
    return sum(prf(y_true, y_pred, c)["f1"] for c in classes) / len(classes)


def accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    if not y_true:
        return 0.0
    return sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == p) / len(y_true)


def _ranks(values: Sequence[float]) -> list[float]:
    """Average ranks (1-based), ties share their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        avg = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[order[k]] = avg
        i = j + 1
    return ranks


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    n = len(x)
    if n < 2:
        return 0.0
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx == 0 or syy == 0:
        return 0.0
    return sxy / math.sqrt(sxx * syy)


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation (Pearson on average ranks)."""
    return pearson(_ranks(x), _ranks(y))


def ndcg_at_k(relevance: Sequence[float], scores: Sequence[float], k: int) -> float:
    """NDCG@k of ranking by ``scores`` with graded ``relevance`` (e.g. true urgency)."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
    ideal = sorted(relevance, reverse=True)[:k]
    dcg = sum(relevance[i] / math.log2(r + 2) for r, i in enumerate(order))
    idcg = sum(rel / math.log2(r + 2) for r, rel in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def precision_at_k(relevant: Sequence[bool], scores: Sequence[float], k: int) -> float:
    """Share of the ``k`` highest-scored items that are relevant."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
    if not order:
        return 0.0
    return sum(1 for i in order if relevant[i]) / len(order)
