"""Urgency 0-100 and reasons, from the model's category probabilities plus metadata.

Urgency is built in three documented steps, each testable on its own:

1. **Category formula** (:func:`category_urgency`). A noisy-OR over category
   probabilities, each weighted by how much that category alone demands a person::

       u_cat = 1 - prod_c (1 - w_c * p_c)

   with the weights in :data:`CATEGORY_WEIGHTS` (safety 0.92, threat 0.9, legal 0.85,
   press 0.75, outage 0.7, complaint 0.45, toxic 0.4, fact_claim 0.15, question 0.08,
   praise/spam 0). A message that is both a safety incident (p=.95) and a legal threat
   (p=.9) gets 1-(1-.874)(1-.765) = .97; a plain question stays below .1.

2. **Blend with the learned urgency head** (trained on the project's labelled set and
   agent corrections): ``u_model = a * u_cat + (1 - a) * u_learned`` with
   ``a = 0.6`` (stored in the artifact's ``meta.json`` under ``urgency.blend``).
   Praise and spam damp it: ``u_model *= 1 - 0.5 * max(p_praise, p_spam)`` when no
   high-risk category (safety, threat, legal) is above 0.5.

3. **Author reach rule** (:func:`reach_bonus`), outside the model: authors with at
   least 10,000 followers add up to 15 points, ``5 * log10(followers / 1000)`` capped
   at 15 (10k → 5, 48k → 8.4, 100k → 10, 1M → 15), scaled by
   ``0.4 + 0.6 * u_model`` so that praise from a big account stays low while a crisis
   from one goes to the top. The reason reads "author has 48k followers".

Reasons name what drove the score: categories above 0.5 with the words that signal
them ("mentions an injury and a lawyer"), then the reach rule.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

CATEGORIES = (
    "safety",
    "threat",
    "legal",
    "press",
    "outage",
    "complaint",
    "toxic",
    "question",
    "praise",
    "spam",
    "fact_claim",
)
SENTIMENTS = ("negative", "neutral", "positive")

CATEGORY_WEIGHTS: dict[str, float] = {
    "safety": 0.92,
    "threat": 0.90,
    "legal": 0.85,
    "press": 0.75,
    "outage": 0.70,
    "complaint": 0.45,
    "toxic": 0.40,
    "fact_claim": 0.15,
    "question": 0.08,
    "praise": 0.0,
    "spam": 0.0,
}
DEFAULT_BLEND = 0.6
HIGH_RISK = ("safety", "threat", "legal")
REACH_MIN_FOLLOWERS = 10_000
REACH_MAX_BONUS = 15.0

CATEGORY_LABELS = {
    "safety": "a safety or health incident",
    "threat": "a threat of violence",
    "legal": "a legal threat",
    "press": "a press enquiry",
    "outage": "an outage",
    "complaint": "a complaint",
    "toxic": "abusive language",
    "question": "a question",
    "praise": "praise",
    "spam": "spam",
    "fact_claim": "a factual claim",
}

# Signal words per category: (regex on lower-cased text, what it is called in a reason)
SIGNALS: dict[str, list[tuple[str, str]]] = {
    "safety": [
        (r"verletz|injur|wound|blut|blood|gebrochen|broken (arm|leg|bone)", "an injury"),
        (
            r"krankenhaus|klinik|notaufnahme|hospital|\ber\b|emergency room|notarzt|"
            r"rettungswagen|ambulance|arzt|doctor|vergift|poison|allerg|erbroch|vomit|"
            r"übel|sick|ill\b|krank|fieber|fever|durchfall|diarrh",
            "health",
        ),
        (
            r"brand\b|feuer|fire|explo|rauch|smoke|gas|stromschlag|electric shock|"
            r"glas|glass|splitter|shard|metall|metal piece|gefahr|danger|unsafe|"
            r"ersticken|chok",
            "a danger",
        ),
        (r"kind|sohn|tochter|baby|child|son\b|daughter|toddler|kid", "a child"),
    ],
    "threat": [
        (
            r"umbring|töte|toete|abstech|kill|shoot|erschie|bomb|anzünd|burn (down|it)|"
            r"hurt you|weh tun|wehtun|messer|knife|gun|waffe|blow up|spreng|"
            r"pay for this|werdet bezahlen|find you|finden euch|wo du wohnst|where you live",
            "violence",
        ),
    ],
    "legal": [
        (r"anwalt|anwält|rechtsanw|lawyer|attorney|solicitor|counsel", "a lawyer"),
        (r"klage|verklag|sue\b|suing|lawsuit|gericht|court", "a lawsuit"),
        (r"anzeige|polizei|police|staatsanwalt|prosecutor|strafanzeige", "the police"),
        (r"abmahnung|cease and desist|dsgvo|gdpr|verbraucherzentrale|regulator", "regulators"),
    ],
    "press": [
        (
            r"journalist|redaktion|reporter|presse|press\b|zeitung|newspaper|magazin|"
            r"magazine|stellungnahme|statement|comment for|bericht|article|broadcast|"
            r"sendung|newsroom|interview",
            "the press",
        ),
    ],
    "outage": [
        (
            r"ausfall|ausgefallen|störung|stoerung|down\b|outage|offline|nicht erreichbar|"
            r"geht nicht|funktioniert nicht|not working|doesn't work|doesnt work|error|"
            r"fehler|kein netz|no signal|no internet|kein internet|can't log|cannot log|"
            r"login|einloggen|app stürzt|crash",
            "an outage",
        ),
    ],
    "complaint": [
        (
            r"beschwer|complain|enttäusch|disappoint|refund|erstatt|zurück|kaputt|broken|"
            r"defekt|wartet|waiting|warte|still no|immer noch|schlecht|terrible|awful|"
            r"worst|unverschämt|frech|rip.?off|abzocke|never again|nie wieder",
            "a complaint",
        ),
    ],
}
_COMPILED = {
    cat: [(re.compile(rx), label) for rx, label in items] for cat, items in SIGNALS.items()
}


def category_urgency(
    categories: Mapping[str, float], weights: Mapping[str, float] | None = None
) -> float:
    """Noisy-OR of weighted category probabilities, 0..1 (step 1 above)."""
    w = CATEGORY_WEIGHTS if weights is None else weights
    keep = 1.0
    for cat, p in categories.items():
        keep *= 1.0 - max(0.0, min(1.0, w.get(cat, 0.0) * float(p)))
    return 1.0 - keep


def model_urgency(
    categories: Mapping[str, float],
    learned_urgency: float | None = None,
    settings: Mapping | None = None,
) -> float:
    """Steps 1 and 2: category formula blended with the learned head, 0..1."""
    settings = settings or {}
    u = category_urgency(categories, settings.get("weights"))
    if learned_urgency is not None:
        a = float(settings.get("blend", DEFAULT_BLEND))
        u = a * u + (1 - a) * float(learned_urgency)
    if max(categories.get(c, 0.0) for c in HIGH_RISK) < 0.5:
        damp = max(categories.get("praise", 0.0), categories.get("spam", 0.0))
        u *= 1.0 - 0.5 * damp
    return max(0.0, min(1.0, u))


def format_followers(n: int) -> str:
    """48_000 → "48k", 1_250_000 → "1.2M", 950 → "950"."""
    if n >= 1_000_000:
        v = n / 1_000_000
        return f"{v:.1f}M".replace(".0M", "M") if v < 10 else f"{round(v)}M"
    if n >= 1_000:
        v = n / 1_000
        return f"{v:.1f}k".replace(".0k", "k") if v < 10 else f"{round(v)}k"
    return str(n)


def reach_bonus(author_followers: int | None, base_urgency: float) -> tuple[float, str | None]:
    """Step 3: urgency points added for author reach, and the reason (or None).

    ``base_urgency`` is the model urgency in 0..1.
    """
    if author_followers is None or author_followers < REACH_MIN_FOLLOWERS:
        return 0.0, None
    raw = min(REACH_MAX_BONUS, 5.0 * math.log10(author_followers / 1_000))
    bonus = raw * (0.4 + 0.6 * max(0.0, min(1.0, base_urgency)))
    return bonus, f"author has {format_followers(author_followers)} followers"


def signal_words(text: str, category: str) -> list[str]:
    """Labels of the signal words of ``category`` found in ``text`` (in order)."""
    low = text.lower()
    return [label for rx, label in _COMPILED.get(category, []) if rx.search(low)]


def _join(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def explain(
    text: str,
    categories: Mapping[str, float],
    threshold: float = 0.5,
    driver: float = 0.3,
) -> list[str]:
    """Human-readable reasons for the categories that drove the score: those with a
    probability of at least ``threshold``, or whose weighted contribution to the
    category formula (``w_c * p_c``) is at least ``driver``."""
    ranked = sorted(
        (
            c
            for c in categories
            if categories[c] >= threshold or CATEGORY_WEIGHTS.get(c, 0.0) * categories[c] >= driver
        ),
        key=lambda c: CATEGORY_WEIGHTS.get(c, 0) * categories[c],
        reverse=True,
    )
    mentions: list[str] = []
    detected: list[str] = []
    for cat in ranked:
        words = [w for w in signal_words(text, cat) if w not in mentions]
        if cat == "safety":
            words = [w for w in words if w != "a child"] + (
                ["a child"] if "a child" in words and len(words) > 1 else []
            )
        if words and CATEGORY_WEIGHTS.get(cat, 0) >= 0.4:
            mentions.extend(words)
        detected.append(f"{CATEGORY_LABELS[cat]} ({categories[cat]:.0%})")
    reasons = []
    if mentions:
        reasons.append("mentions " + _join(mentions))
    if detected:
        reasons.append("looks like " + _join(detected))
    return reasons


def compose_urgency(
    text: str,
    categories: Mapping[str, float],
    *,
    learned_urgency: float | None = None,
    author_followers: int | None = None,
    language: str | None = None,
    settings: Mapping | None = None,
) -> tuple[int, list[str]]:
    """Final urgency 0-100 and the reasons for it."""
    u = model_urgency(categories, learned_urgency, settings)
    reasons = explain(text, categories)
    bonus, reach_reason = reach_bonus(author_followers, u)
    if reach_reason:
        reasons.append(reach_reason)
    urgency = round(max(0.0, min(100.0, 100.0 * u + bonus)))
    if not reasons:
        reasons.append("nothing urgent detected")
    return urgency, reasons
