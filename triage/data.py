"""Training data: the public labelled sets, the project's own set, agent corrections.

Every example is a :class:`Example` with partial labels: ``labels`` maps a task name to
a value (class index, 0/1, or a float for urgency); a task missing from ``labels`` is
masked out of the loss. Service tasks:

* ``cat:<category>`` — 0/1 for one of :data:`triage.urgency.CATEGORIES`;
* ``sent`` — index into :data:`triage.urgency.SENTIMENTS`;
* ``urg`` — urgency / 100.

Public benchmark tasks (reported by ``triage train``): ``complaint``, ``ge21_toxic``,
``ge21_engaging``, ``ge21_fact``, ``ge18_offense``, ``olid_off``, ``olid_tin``,
``crisis_info`` (CrisisLex T26 "Related and informative" vs the rest), ``crisis_type``
(T26 information type), ``crisis_topic`` (CrisisLex T6 on-topic).

Public sets also give weak labels for the service categories (documented in
:func:`load_public`). The development split is made here, deterministically: SHA-1 of
``seed:normalised text`` mod 100 < ``dev_percent``; identical texts stay together.
The official test splits are not read.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from triage.urgency import CATEGORIES, SENTIMENTS

# ../shared/data beside the checkout; LEITSTAND_TRIAGE_DATA_DIR points elsewhere.
DEFAULT_DATA_DIR = Path(
    os.environ.get("LEITSTAND_TRIAGE_DATA_DIR")
    or Path(__file__).resolve().parents[2] / "shared" / "data"
)
OWN_LABELLED = Path(__file__).resolve().parent / "data" / "own_labelled.csv"

BINARY_TASKS = (
    "complaint",
    "ge21_toxic",
    "ge21_engaging",
    "ge21_fact",
    "ge18_offense",
    "olid_off",
    "olid_tin",
    "crisis_info",
    "crisis_topic",
)
CRISIS_TYPES = (
    "Affected individuals",
    "Infrastructure and utilities",
    "Donations and volunteering",
    "Caution and advice",
    "Sympathy and support",
    "Other Useful Information",
    "Not applicable",
)
MULTICLASS_TASKS = {"crisis_type": len(CRISIS_TYPES)}

#: published best macro-F1 from ../shared/data/*/README.md (official test splits)
PUBLISHED_BEST = {
    "complaint": (0.882, "Jin & Aletras 2021 (88.2 macro-F1)"),
    "ge21_toxic": (0.718, "FHAC, GermEval 2021"),
    "ge21_engaging": (0.699, "FHAC, GermEval 2021"),
    "ge21_fact": (0.768, "FHAC, GermEval 2021"),
    "ge18_offense": (0.7677, "TUWienKBS coarse_1, GermEval 2018"),
    "olid_off": (0.829, "OffensEval 2019 sub-task A"),
    "crisis_info": (None, "no published anchor"),
    "crisis_topic": (None, "no published anchor"),
}

csv.field_size_limit(10_000_000)


@dataclass
class Example:
    text: str
    source: str
    labels: dict[str, float] = field(default_factory=dict)
    language: str | None = None
    weight: float = 1.0
    split: str = "train"
    group: str | None = None  # examples of one group (e.g. a translation pair) split together


_NORM_URL = re.compile(r"https?://\S+|www\.\S+")
_NORM_MENTION = re.compile(r"@\w+")
_NORM_PUNCT = re.compile(r"[^\w\s]")


def norm_key(text: str) -> str:
    t = text.lower()
    t = re.sub(r"^rt @\w+:?", "", t)
    t = _NORM_URL.sub("", t)
    t = _NORM_MENTION.sub("@", t)
    t = _NORM_PUNCT.sub("", t)
    return " ".join(t.split())


def bucket(text: str, seed: int) -> int:
    return (
        int(
            hashlib.sha1(f"{seed}:{norm_key(text)}".encode(), usedforsecurity=False).hexdigest(), 16
        )
        % 100
    )


def assign_split(examples: Iterable[Example], seed: int, dev_percent: int) -> None:
    for ex in examples:
        key = f"group:{ex.group}" if ex.group else ex.text
        ex.split = "dev" if bucket(key, seed) < dev_percent else "train"


def _rows(path: Path) -> Iterable[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        yield from csv.DictReader(fh)


def _sample(rows: Iterable[dict[str, str]], limit: int | None) -> list[dict[str, str]]:
    """A deterministic subset of ``limit`` rows (by SHA-1 of the tweet id), kept in order."""
    rows = list(rows)
    if limit is None or len(rows) <= limit:
        return rows
    keep = sorted(
        range(len(rows)),
        key=lambda i: hashlib.sha1(rows[i]["tweet_id"].encode(), usedforsecurity=False).hexdigest(),
    )[:limit]
    return [rows[i] for i in sorted(keep)]


def _weak_urgency(value: float) -> dict[str, float]:
    """A heuristic urgency target for a public row (down-weighted in the loss)."""
    return {"urg": value / 100.0, "urg_weak": 1.0}


def _crisis_urgency(info: str, itype: str) -> float:
    if info in ("Not related", "Not applicable"):
        return 5
    if info != "Related and informative":
        return 20
    return {
        "Affected individuals": 75,
        "Caution and advice": 75,
        "Infrastructure and utilities": 65,
    }.get(itype, 40)


def _cat(**kw: int) -> dict[str, float]:
    return {f"cat:{k}": float(v) for k, v in kw.items()}


def load_public(data_dir: Path, t6_limit: int = 4_000, t26_limit: int = 12_000) -> list[Example]:
    """Read every ``train.csv`` under ``data_dir`` into examples.

    Weak labels for the service categories:
    complaints → ``complaint``; GermEval 2021 toxic, GermEval 2018 OFFENSE and OLID OFF →
    ``toxic``; GermEval 2021 fact-claiming → ``fact_claim``; CrisisLex T26 "Not
    related" and CrisisLex T6 off-topic → safety/outage = 0. (Disaster reports are not
    used as ``safety``/``outage`` positives: they pulled those categories towards
    natural disasters and away from product incidents; they train ``crisis_*`` instead.)
    Public rows are also negatives for ``legal`` and ``press`` (except CrisisLex T26,
    which holds news reports) and for ``threat`` (except the abusive-language sets,
    which hold threats).

    Heuristic urgency targets (0-100): complaint 45 / not 10; toxic or offensive 35 /
    not 10-12; CrisisLex T26 informative "Affected individuals" or "Caution and advice"
    75, "Infrastructure and utilities" 65, other informative 40, related but not
    informative 20, not related 5; CrisisLex T6 off-topic 5.
    """
    out: list[Example] = []
    d = Path(data_dir)

    p = d / "complaints-preotiuc2019" / "train.csv"
    if p.is_file():
        for r in _rows(p):
            y = int(r["complaint"])
            labels: dict[str, float] = {
                "complaint": y,
                **_cat(complaint=y, legal=0, press=0, threat=0),
            }
            labels.update(_weak_urgency(45 if y else 10))
            if y:
                labels["sent"] = SENTIMENTS.index("negative")
            out.append(Example(r["text"], "complaints", labels, "en"))

    p = d / "germeval2021-toxic-engaging-factclaiming" / "train.csv"
    if p.is_file():
        for r in _rows(p):
            t, e, f = int(r["toxic"]), int(r["engaging"]), int(r["fact_claiming"])
            labels = {
                "ge21_toxic": t,
                "ge21_engaging": e,
                "ge21_fact": f,
                **_cat(toxic=t, fact_claim=f, legal=0, press=0),
                **_weak_urgency(35 if t else 12),
            }
            out.append(Example(r["text"], "germeval2021", labels, "de"))

    p = d / "germeval2018-offensive" / "train.csv"
    if p.is_file():
        for r in _rows(p):
            y = int(r["coarse"] == "OFFENSE")
            text = r["text"].replace("|LBR|", "\n")
            labels = {"ge18_offense": y, **_cat(toxic=y, legal=0, press=0)}
            labels.update(_weak_urgency(35 if y else 10))
            out.append(Example(text, "germeval2018", labels, "de"))

    p = d / "olid-offenseval2019" / "train.csv"
    if p.is_file():
        for r in _rows(p):
            y = int(r["subtask_a"] == "OFF")
            labels = {"olid_off": y, **_cat(toxic=y, legal=0, press=0)}
            labels.update(_weak_urgency(35 if y else 10))
            if r["subtask_b"] in ("TIN", "UNT"):
                labels["olid_tin"] = int(r["subtask_b"] == "TIN")
            out.append(Example(r["text"], "olid", labels, "en"))

    p = d / "crisislex-t26" / "train.csv"
    if p.is_file():
        for r in _sample(_rows(p), t26_limit):
            info = r["informativeness"]
            itype = r["information_type"]
            labels = {
                "crisis_info": int(info == "Related and informative"),
                "cat:threat": 0,
            }
            if itype in CRISIS_TYPES:
                labels["crisis_type"] = CRISIS_TYPES.index(itype)
            if info in ("Not related", "Not applicable"):
                labels.update(_cat(safety=0, outage=0))
            labels.update(_weak_urgency(_crisis_urgency(info, itype)))
            out.append(Example(r["text"], "crisislex_t26", labels, r.get("lang_guess") or None))

    p = d / "crisislex-t6" / "train.csv"
    if p.is_file():
        for r in _sample(_rows(p), t6_limit):
            y = int(r["label"] == "on-topic")
            labels = {"crisis_topic": y, **_cat(legal=0, press=0, threat=0)}
            if not y:
                labels.update(_cat(safety=0, outage=0))
                labels.update(_weak_urgency(5))
            out.append(Example(r["text"], "crisislex_t6", labels, r.get("lang_guess") or None))
    return out


def parse_categories(value: object) -> list[str]:
    """``"safety|legal"``, ``"safety, legal"`` or a list → validated category names."""
    if value is None:
        return []
    items = value if isinstance(value, list) else re.split(r"[|,;]", str(value))
    cats = [str(c).strip().lower() for c in items if str(c).strip()]
    unknown = [c for c in cats if c not in CATEGORIES]
    if unknown:
        raise ValueError(f"unknown categories: {unknown}")
    return cats


def _labelled_example(
    text: str,
    cats: list[str] | None,
    urgency: float | None,
    sentiment: str | None,
    source: str,
    language: str | None,
    weight: float,
) -> Example:
    labels: dict[str, float] = {}
    if cats is not None:
        labels.update({f"cat:{c}": float(c in cats) for c in CATEGORIES})
    if urgency is not None:
        labels["urg"] = max(0.0, min(100.0, float(urgency))) / 100.0
    if sentiment:
        labels["sent"] = SENTIMENTS.index(sentiment)
    return Example(text, source, labels, language, weight)


def load_own(path: Path = OWN_LABELLED, weight: float = 3.0) -> list[Example]:
    """The project's own labelled set: text, language, categories, urgency, sentiment."""
    out = []
    for r in _rows(path):
        ex = _labelled_example(
            r["text"],
            parse_categories(r.get("categories", "")),
            float(r["urgency"]),
            r.get("sentiment") or None,
            "own",
            r.get("language") or None,
            weight,
        )
        ex.group = r.get("pair") or None
        out.append(ex)
    return out


#: translation pairs always held out: the product's critical example (PRODUCT.md story 2)
#: and its English version, so that the model is checked on it without having seen it
ALWAYS_HELD_OUT = frozenset({"p000"})


def own_split(examples: list[Example], seed: int, heldout_percent: int = 25) -> None:
    """Deterministic held-out part of the own set (``split = "dev"``); a translation pair
    (same ``pair`` column) always lands on one side."""
    assign_split(examples, seed + 7, heldout_percent)
    for ex in examples:
        if ex.group in ALWAYS_HELD_OUT:
            ex.split = "dev"


def load_corrections(path: Path, weight: float = 3.0) -> list[Example]:
    """Agent corrections exported by the service.

    JSON lines (``.jsonl``/``.json``), one object per line::

        {"text": "...", "urgency": 90, "categories": ["safety", "legal"],
         "sentiment": "negative", "language": "de"}

    ``urgency`` (0-100), ``categories`` (the complete list of categories that apply;
    an empty list means "none of them"), ``sentiment`` and ``language`` are optional;
    an omitted field leaves that label unknown. A ``.csv`` file with the same column
    names (``categories`` separated by ``|``) works too.
    """
    path = Path(path)
    records: list[dict] = []
    if path.suffix.lower() == ".csv":
        for r in _rows(path):
            rec: dict = {"text": r.get("text", "")}
            if r.get("urgency") not in (None, ""):
                rec["urgency"] = float(r["urgency"])
            if "categories" in r and r["categories"] is not None:
                rec["categories"] = r["categories"]
            rec["sentiment"] = r.get("sentiment") or None
            records.append(rec)
    else:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not JSON: {exc}") from exc
    out = []
    for rec in records:
        text = str(rec.get("text") or "").strip()
        if not text:
            continue
        cats = parse_categories(rec["categories"]) if "categories" in rec else None
        sentiment = rec.get("sentiment")
        if sentiment not in SENTIMENTS:
            sentiment = None
        out.append(
            _labelled_example(
                text,
                cats,
                rec.get("urgency"),
                sentiment,
                "corrections",
                rec.get("language"),
                weight,
            )
        )
    return out
