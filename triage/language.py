"""A small, offline, dependency-free language detector.

Scripts decide first (Cyrillic, Greek, Arabic, Hebrew, CJK, Hangul, Thai, Devanagari ...).
Latin-script text is scored against stopword lists and a few characteristic letters
per language; German and English get the richest lists because the inbox works in both.
Short or ambiguous text falls back to ``default`` (English).
"""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_NOISE = re.compile(r"https?://\S+|www\.\S+|[@#]\w+|\S+@\S+", re.UNICODE)

_STOPWORDS: dict[str, str] = {
    "de": (
        "der die das und ist nicht ich ihr euer eure euch wir sie es ein eine einen einem "
        "einer mit auf für fur von zu zum zur im in den dem des auch noch schon aber oder "
        "wenn wann wie was warum wo wer sind war bin bist hat habe haben wird werden kann "
        "können konnt mein meine meinen mich mir dich dir sehr nur bei nach aus über uber "
        "heute morgen gestern bitte danke doch mal ja nein kein keine keinen nichts man "
        "dass weil seit immer wieder jetzt hier gibt geht euch euren eurem ihnen unser "
        "unsere ob als am vom beim sich selbst diese dieser dieses ganz gut toll super "
        "leider endlich wurde wurden gibt's gehts ist's nix sowas herr frau"
    ),
    "en": (
        "the and is are was were be been not you your yours we our they their it its "
        "this that these those with for from to of in on at by an a as or if when what "
        "why how where who which have has had do does did can could will would should "
        "my me mine him her his she he them us just very only about after again all any "
        "because before but here there today tomorrow yesterday please thanks thank "
        "yes no nothing so than then too up out get got still never always i'm don't "
        "can't it's won't isn't doesn't didn't i"
    ),
    "fr": (
        "le la les et est une un des du de que qui pas pour dans sur avec ce cette ces "
        "je tu il elle nous vous ils elles mon ma mes ton ta vos votre nos notre au aux "
        "mais ou où donc car très tres bien merci bonjour ne plus sont été suis avez "
        "avons leur leurs quand comment pourquoi aujourd hui chez"
    ),
    "es": (
        "el la los las y es un una unos unas de del que en por para con no se su sus "
        "lo le les al como pero muy más mas mi mis tu tus yo él ella nosotros ustedes "
        "está esta están estan son fue hay gracias hola porque cuando donde qué quién "
        "también tambien ya hoy ayer mañana todo todos"
    ),
    "it": (
        "il lo la i gli le e è un una di del della dei delle che in per con non si su "
        "sono ma come anche più piu mi ti ci vi questo questa quello quella molto grazie "
        "ciao perché perche quando dove oggi ieri domani tutto tutti sei siamo hanno ha "
        "ho nel nella alla allo al"
    ),
    "pt": (
        "o a os as e é um uma de do da dos das que em no na nos nas por para com não nao "
        "se seu sua mais mas como muito obrigado obrigada olá ola você voce eu ele ela "
        "nós eles elas está estao estão são foi tem hoje ontem amanhã também tambem"
    ),
    "nl": (
        "de het een en is niet ik je jij we wij zij ze van voor met op in aan dat die dit "
        "er zijn was waren hebben heeft heb maar ook nog al wel geen naar uit bij om als "
        "wat hoe waarom wanneer waar bedankt dank alstublieft jullie mijn ons onze"
    ),
    "sv": (
        "och är att det som en ett jag du han hon vi ni de inte med för på av till den "
        "har hade var kan ska skulle om men så också mycket tack hej min mitt våra"
    ),
    "da": (
        "og er at det som en et jeg du han hun vi de ikke med for på af til den har havde "
        "var kan skal skulle om men så også meget tak hej min mit vores"
    ),
    "pl": (
        "i w na z się nie to jest że do co jak ale o po tak za od czy już jestem są był "
        "była dla przez bardzo dziękuję dzień dobry mnie mój moja nasz proszę"
    ),
    "tr": (
        "ve bir bu da de ile için çok ne ama gibi daha var yok ben sen o biz siz onlar "
        "değil mi mı mu mü teşekkür merhaba nasıl neden şu"
    ),
    "tl": (
        "ang ng sa na mga at ay ko mo siya kami tayo kayo sila hindi po salamat ito iyan "
        "naman lang din rin para kung pero"
    ),
    "id": (
        "dan yang di ke dari ini itu dengan untuk tidak ada saya kamu kami kita mereka "
        "akan sudah belum juga bisa karena terima kasih apa"
    ),
}
STOPWORDS: dict[str, frozenset[str]] = {
    lang: frozenset(words.split()) for lang, words in _STOPWORDS.items()
}

# letters that are strong evidence for a language among Latin-script ones
_LETTERS: dict[str, str] = {
    "de": "äöüß",
    "fr": "çèêëàâîïôœù",
    "es": "ñ¿¡áíóú",
    "pt": "ãõçâêô",
    "it": "àèìòù",
    "pl": "ąćęłńśźż",
    "tr": "ğışç",
    "sv": "åäö",
    "da": "æøå",
    "nl": "ij",
}

_SCRIPTS: list[tuple[str, str]] = [
    ("HANGUL", "ko"),
    ("HIRAGANA", "ja"),
    ("KATAKANA", "ja"),
    ("CJK", "zh"),
    ("CYRILLIC", "ru"),
    ("GREEK", "el"),
    ("ARABIC", "ar"),
    ("HEBREW", "he"),
    ("THAI", "th"),
    ("DEVANAGARI", "hi"),
    ("ARMENIAN", "hy"),
    ("GEORGIAN", "ka"),
]

_ALIASES = {
    "german": "de",
    "deutsch": "de",
    "ger": "de",
    "deu": "de",
    "english": "en",
    "englisch": "en",
    "eng": "en",
    "french": "fr",
    "spanish": "es",
    "italian": "it",
}


def normalize_language(code: str | None) -> str | None:
    """``"de-DE"`` → ``"de"``, ``"English"`` → ``"en"``; None/empty/unknown → None."""
    if not code:
        return None
    c = code.strip().lower().replace("_", "-")
    if c in _ALIASES:
        return _ALIASES[c]
    c = c.split("-")[0]
    if len(c) == 2 and c.isalpha():
        return c
    if len(c) == 3 and c in _ALIASES:
        return _ALIASES[c]
    return None


def _script_language(text: str) -> str | None:
    counts: dict[str, int] = {}
    latin = 0
    for ch in text:
        if not ch.isalpha():
            continue
        name = unicodedata.name(ch, "")
        if name.startswith("LATIN"):
            latin += 1
            continue
        for key, lang in _SCRIPTS:
            if key in name:
                counts[lang] = counts.get(lang, 0) + 1
                break
    if not counts:
        return None
    lang, n = max(counts.items(), key=lambda kv: kv[1])
    if n < latin:
        return None
    if lang == "zh" and (counts.get("ja", 0) > 0):
        return "ja"
    if lang == "ru" and any(ch in text for ch in "ієїґІЄЇҐ"):
        return "uk"
    return lang


def language_scores(text: str) -> dict[str, float]:
    """Per-language evidence for Latin-script text (higher is more likely)."""
    clean = _NOISE.sub(" ", text).lower()
    words = _WORD.findall(clean)
    scores = dict.fromkeys(STOPWORDS, 0.0)
    for w in words:
        for lang, sw in STOPWORDS.items():
            if w in sw:
                scores[lang] += 1.0
    for lang, letters in _LETTERS.items():
        if lang == "nl":
            scores[lang] += 0.5 * sum(1 for w in words if "ij" in w)
            continue
        hits = sum(clean.count(ch) for ch in letters)
        scores[lang] += 0.75 * min(hits, 4)
    # German morphology / English spelling hints
    scores["de"] += 0.5 * sum(
        1 for w in words if w.endswith(("ung", "keit", "heit", "lich", "chen", "sch"))
    )
    scores["de"] += 0.5 * sum(1 for w in words if "sch" in w or w.startswith(("ge", "ver")))
    scores["en"] += 0.5 * sum(1 for w in words if w.endswith(("ing", "tion", "ly")) or "th" in w)
    return scores


def detect_language(text: str, default: str = "en") -> str:
    """ISO 639-1 code for ``text``; ``default`` when there is too little evidence."""
    if not text or not text.strip():
        return default
    script = _script_language(text)
    if script:
        return script
    scores = language_scores(text)
    best = max(scores, key=scores.__getitem__)
    if scores[best] <= 0.5:
        return default
    ranked = sorted(scores.values(), reverse=True)
    if ranked[0] == ranked[1] and scores.get(default, 0) == ranked[0]:
        return default
    return best
