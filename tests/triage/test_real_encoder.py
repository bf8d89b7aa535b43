"""One integration test on the real encoder and the committed heads (slow, not skipped)."""

import pytest

from triage.model import TriageInput, load_triager

CRITICAL_DE = "Euer Babybrei hat meinen Sohn ins Krankenhaus gebracht, mein Anwalt meldet sich"
CRITICAL_EN = "Your baby food put my son in hospital, my lawyer will be in touch"


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_real_model_scores_the_critical_message_critical(runtime: str) -> None:
    triager = load_triager(None, threads=2, runtime=runtime)
    # int8 ONNX scores in sub-batches of 8 similar-length messages (less padding)
    assert triager.batch_size == (8 if runtime == "onnx" else 32)  # type: ignore[attr-defined]
    crit_de, crit_en, hours, praise, praise_en = triager.score(
        [
            TriageInput(CRITICAL_DE),
            TriageInput(CRITICAL_EN),
            TriageInput("Wann öffnet ihr am Samstag?"),
            TriageInput("Vielen Dank für den tollen Service, ihr seid die Besten!"),
            TriageInput("Thank you so much, the new app is fantastic!"),
        ]
    )
    for crit, lang in ((crit_de, "de"), (crit_en, "en")):
        assert crit.urgency >= 85, crit
        assert crit.language == lang
        top2 = sorted(crit.categories, key=crit.categories.__getitem__, reverse=True)[:2]
        assert set(top2) == {"safety", "legal"}, crit.categories
        text = " ".join(crit.reasons)
        assert "a lawyer" in text
        assert "health" in text or "injury" in text
        assert crit.sentiment == "negative"
    assert hours.urgency < 30, hours
    assert praise.urgency < 30, praise
    assert praise_en.urgency < 30, praise_en
    assert praise.sentiment == "positive"
    encoder = "multilingual-e5-small-int8" if runtime == "onnx" else "multilingual-e5-small"
    assert crit_de.model_version.startswith(f"{encoder}+heads-")
