import pytest

from triage.language import detect_language, normalize_language


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Wann öffnet ihr am Samstag?", "de"),
        ("Euer Babybrei hat meinen Sohn ins Krankenhaus gebracht, mein Anwalt meldet sich", "de"),
        ("Die App ist seit heute Morgen down, ich komme nicht an mein Konto!", "de"),
        ("Danke für die superschnelle Lieferung!", "de"),
        ("Ich habe eine Frage zu meiner Rechnung", "de"),
        ("Your baby food put my son in hospital, my lawyer will be in touch", "en"),
        ("What time do you open on Saturday?", "en"),
        ("The app has been down since this morning", "en"),
        ("Thanks for the super fast delivery!", "en"),
        ("Bonjour, je voudrais savoir quand vous ouvrez le samedi.", "fr"),
        ("Mon colis n'est pas arrivé et personne ne répond.", "fr"),
        ("Hola, ¿a qué hora abren el sábado?", "es"),
        ("El paquete no ha llegado y nadie me responde.", "es"),
        ("Il pacco non è ancora arrivato, quando arriva?", "it"),
        ("O pacote ainda não chegou, vocês podem me ajudar?", "pt"),
        ("Het pakket is nog niet aangekomen, wanneer komt het?", "nl"),
        ("Посылка так и не пришла, помогите пожалуйста", "ru"),
        ("小包はまだ届いていません", "ja"),
        ("包裹还没有到", "zh"),
        ("Το δέμα δεν έχει φτάσει ακόμα", "el"),
        ("الطرد لم يصل بعد", "ar"),
    ],
)
def test_detects_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_urls_and_handles_do_not_decide() -> None:
    assert (
        detect_language("@the_shop https://example.com/the/and/is Wo bleibt meine Bestellung?")
        == "de"
    )


def test_empty_text_falls_back() -> None:
    assert detect_language("") == "en"
    assert detect_language("12345 !!!", default="de") == "de"


@pytest.mark.parametrize(
    ("code", "norm"),
    [("de-DE", "de"), ("EN", "en"), ("en_GB", "en"), ("German", "de"), ("", None), (None, None)],
)
def test_normalize_language(code: str | None, norm: str | None) -> None:
    assert normalize_language(code) == norm
