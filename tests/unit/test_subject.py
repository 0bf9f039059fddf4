"""The reply's {{2}} and language: the subject in the client's words, the client's language,
the reply texts per language (`domain.subject`, `domain.language`, `domain.replies`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from session_reply.domain import replies as replies_module
from session_reply.domain import subject as subject_module
from session_reply.domain.language import DEFAULT, DETECTED, GREETING, KNOWN, detect_language
from session_reply.domain.replies import SHIPPED, ReplyTexts, template_problem, texts_for
from session_reply.domain.reply import render_reply
from session_reply.domain.request import OTHER, summarise
from session_reply.domain.subject import (
    LANGUAGES,
    MAX_CHARS,
    extract_subject,
    greeting_language,
)

NINE = ("en", "ru", "es", "pt", "de", "fr", "it", "tr", "uk")

# -- the subject ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language", "subject"),
    [
        ("Hello! I'd like to know more about your CRM for a sales team", "en",
         "CRM for a sales team"),
        ("tell me more about your online booking widget for salons", "en",
         "online booking widget for salons"),
        ("Добрый день! Сколько стоит доставка дивана в Астану?", "ru", "доставка дивана в Астану"),
        ("hola, ¿hacen envíos a Valencia?", "es", "envíos a Valencia"),
        ("hi\nI want to ask\nabout the price of delivery to Almaty", "en",
         "the price of delivery to Almaty"),
        ("What do you charge for a root canal?", "en", "root canal"),
        ("merhaba, İstanbul'a teslimat var mı?", "tr", "İstanbul'a teslimat"),
        ("Добрий день! Скільки коштує доставка дивана до Києва?", "uk", "доставка дивана до Києва"),
    ],
)  # fmt: skip
def test_subject_is_the_clients_own_phrase_when_a_lead_in_precedes_it(
    text: str, language: str, subject: str
) -> None:
    assert extract_subject(text, "chat", language).phrase == subject


@pytest.mark.parametrize(
    ("text", "language", "subject"),
    [
        # a full stop inside a word or a number does not end the sentence; a decimal comma
        # is not a clause break
        ("quanto viene il tagliando per una Panda 1.2 del 2018?", "it",
         "tagliando per una Panda 1.2 del 2018"),
        ("tienen la freidora Cosori de 5,5 litros?", "es", "freidora Cosori de 5,5 litros"),
        # a site named in the text is not the subject
        ("ho visto su immobiliare.it la villetta a Monza", "it", "villetta a Monza"),
        # greetings open a sentence; after a lead-in, "evening" is the client's word
        ("Good morning\ndo you have evening classes for adults?", "en",
         "evening classes for adults"),
        # lead-ins and the words dropped first, again and again; question tails at the end
        ("est-ce que vous avez le Dyson V15 ?", "fr", "Dyson V15"),
        ("habt ihr die Sony WH-1000XM5 in schwarz noch da?", "de", "Sony WH-1000XM5 in schwarz"),
        # a letter held on ("hiii") is the greeting it stretches
        ("hiii can i get a gel manicure today after 5?? 💅", "en", "gel manicure today after 5"),
        # the symbols a subject keeps
        ("somos 4\nbuscamos vuelo + hotel a Cancún", "es", "vuelo + hotel a Cancún"),
    ],
)  # fmt: skip
def test_subject_keeps_the_clients_words_whole_when_they_hold_numbers_sites_or_questions(
    text: str, language: str, subject: str
) -> None:
    assert extract_subject(text, "chat", language).phrase == subject


def test_subject_comes_from_a_later_sentence_that_asks_when_the_first_is_a_word_or_two() -> None:
    # "guapa" names nothing the client wants; the question after it does
    found = extract_subject("hola guapa!!\ntienes hueco para uñas semipermanentes?", "chat", "es")
    assert found.phrase == "uñas semipermanentes"
    # a first sentence of substance stays the subject, even when a question follows
    found = extract_subject("стукає підвіска спереду\nможна приїхати в суботу?", "chat", "uk")
    assert found.phrase == "стукає підвіска спереду"


@pytest.mark.parametrize(
    ("text", "language", "subject"),
    [
        ("Hi. My daughter is 6 and loves the water. Do you have swimming lessons for kids?", "en",
         "swimming lessons for kids"),
        ("mi hija tiene 6 años, tienen clases de natación para niños?", "es",
         "clases de natación para niños"),
        ("Ich habe seit Wochen Knieschmerzen, vor allem abends. Haben Sie noch freie Termine "
         "für Physiotherapie?", "de", "Termine für Physiotherapie"),
        ("kızım 8 yaşında, yüzme kursu var mı?", "tr", "yüzme kursu"),
    ],
)  # fmt: skip
def test_subject_is_the_request_not_the_context_when_the_message_opens_with_the_situation(
    text: str, language: str, subject: str
) -> None:
    assert extract_subject(text, "chat", language).phrase == subject


@pytest.mark.parametrize(
    ("text", "language", "subject"),
    [
        ("Добрый день\nпо объявлению на Циан\nдвушка на Соколе еще сдается?", "ru",
         "двушка на Соколе"),
        ("Good morning\nI saw your listing for the 3 bed house in Leeds on rightmove", "en",
         "the 3 bed house in Leeds"),
        ("Boa noite\nvi o anúncio do apartamento em Moema no OLX", "pt", "apartamento em Moema"),
    ],
)  # fmt: skip
def test_subject_names_the_offer_not_where_it_was_seen_when_the_client_cites_a_listing(
    text: str, language: str, subject: str
) -> None:
    assert extract_subject(text, "chat", language).phrase == subject


@pytest.mark.parametrize(
    ("text", "language", "subject"),
    [
        ("can i book a table for 6 people this saturday around 8pm", "en", "table for 6 people"),
        ("Столик на 4 человек на завтра на 19:30 есть?", "ru", "Столик на 4 человек"),
        ("Habt ihr morgen noch einen Termin für Wimpernverlängerung?", "de",
         "Termin für Wimpernverlängerung"),
        # a short phrase keeps its time: it is part of what the client asks
        ("can i see the apartment this saturday", "en", "see the apartment this saturday"),
    ],
)  # fmt: skip
def test_subject_loses_its_time_words_when_the_phrase_is_long(
    text: str, language: str, subject: str
) -> None:
    assert extract_subject(text, "chat", language).phrase == subject


@pytest.mark.parametrize(
    ("text", "language", "subject"),
    [
        ("hey\nordered a lamp last week order #51234\nstill not here", "en", "order #51234"),
        ("здравствуйте\nзаказ 88412 оформляла во вторник\nгде он?", "ru", "заказ 88412"),
        ("Guten Tag, meine Bestellung 400217 ist nicht angekommen", "de",
         "meine Bestellung 400217"),
    ],
)  # fmt: skip
def test_subject_is_the_order_when_the_client_gives_its_number(
    text: str, language: str, subject: str
) -> None:
    assert extract_subject(text, "chat", language).phrase == subject


def test_subject_keeps_the_request_and_drops_what_follows_when_a_conjunction_opens_a_question() -> (
    None
):
    text = "Сколько стоит МРТ коленного сустава и нужно ли направление?"
    assert extract_subject(text, "chat", "ru").phrase == "МРТ коленного сустава"
    text = "Nous sommes un couple de retraités et nous aimerions découvrir la Sicile en mai."
    assert extract_subject(text, "chat", "fr").phrase == "découvrir la Sicile en mai"


def test_subject_is_what_a_thing_does_when_the_client_names_the_thing_first() -> None:
    text = "Ma Clio 4 1.5 dCi fait un bruit bizarre au démarrage, vous pouvez la regarder ?"
    assert extract_subject(text, "chat", "fr").phrase == "bruit bizarre au démarrage"
    text = "Mein Golf 7 braucht neue Bremsen vorne, was kostet das?"
    assert extract_subject(text, "chat", "de").phrase == "neue Bremsen vorne"


def test_subject_drops_the_clients_your_when_it_means_the_business() -> None:
    text = "Is there a Zapier integration for your invoicing app?"
    assert extract_subject(text).phrase == "Zapier integration for invoicing app"
    text = "скільки коштує заміна масла на Тойота Камрі 2.5?"  # and a closing engine size
    assert extract_subject(text, "chat", "uk").phrase == "заміна масла на Тойота Камрі"


@pytest.mark.parametrize(
    ("text", "language", "subject"),
    [
        ("Passat 1.6 TDI 2018 triger seti değişimi ne kadar tutar?", "tr", "triger seti değişimi"),
        ("Киа Рио 2017 1.6, стучит подвеска спереди", "ru", "стучит подвеска спереди"),
        ("quanto viene il tagliando per una Fiat 500X 1.6 multijet?", "it",
         "tagliando per una Fiat 500X"),
    ],
)  # fmt: skip
def test_subject_leaves_the_model_name_aside_when_the_client_opens_or_closes_with_it(
    text: str, language: str, subject: str
) -> None:
    assert extract_subject(text, "chat", language).phrase == subject


@pytest.mark.parametrize(
    ("text", "language", "subject"),
    [
        ("доброго дня\nне приходить смс з кодом при реєстрації", "uk",
         "смс з кодом при реєстрації"),
        ("hola\nno me llega el correo de confirmación", "es", "correo de confirmación"),
        ("seit gestern funktioniert der Kalender-Sync mit Outlook nicht mehr", "de",
         "Kalender-Sync mit Outlook"),
        ("Est-ce que votre caisse est compatible avec les TPE SumUp ?", "fr", "TPE SumUp"),
    ],
)  # fmt: skip
def test_subject_is_the_thing_that_fails_or_fits_when_the_client_reports_it(
    text: str, language: str, subject: str
) -> None:
    assert extract_subject(text, "chat", language).phrase == subject


def test_subject_drops_a_word_that_says_your_by_its_ending_when_it_opens_the_phrase() -> None:
    text = "Programınız Trendyol entegrasyonu yapıyor mu?"
    assert extract_subject(text, "chat", "tr").phrase == "Trendyol entegrasyonu"


def test_subject_skips_a_later_question_that_names_nothing_when_an_earlier_clause_asks() -> None:
    text = "We're a family of four. We'd like a day trip to Sintra. Could you send me a quote?"
    assert extract_subject(text).phrase == "day trip to Sintra"


@pytest.mark.parametrize(
    ("text", "language", "subject"),
    [
        (
            "Good morning. We just moved to Porto with our two kids and the school year starts"
            " soon. Do you have Portuguese lessons for children?",
            "en",
            "Portuguese lessons for children",
        ),
        (
            "Ankara'dan taşınıyoruz. Kadıköy'de kiralık daire arıyoruz",
            "tr",
            "Kadıköy'de kiralık daire",
        ),
    ],
)
def test_subject_is_the_later_sentence_that_asks_when_the_first_tells_a_story(
    text: str, language: str, subject: str
) -> None:
    assert extract_subject(text, "chat", language).phrase == subject


@pytest.mark.parametrize(
    ("text", "language", "subject"),
    [
        ("Is the blue sofa bed you have on the website still on sale?", "en", "blue sofa bed"),
        ("la Clio 5 de 2021 est toujours en vente ?", "fr", "Clio 5 de 2021"),
        ("ищем репетитора по химии для сына", "ru", "репетитора по химии для сына"),
    ],
)
def test_subject_ends_where_the_client_says_something_about_the_thing(
    text: str, language: str, subject: str
) -> None:
    assert extract_subject(text, "chat", language).phrase == subject


@pytest.mark.parametrize("language", NINE)
def test_subject_is_the_languages_neutral_phrase_when_the_text_is_a_greeting_or_emoji(
    language: str,
) -> None:
    neutral = LANGUAGES[language].neutral
    for text in ("hi!!", "👍", "", "привет 🙂", "hola"):
        found = extract_subject(text, "chat", language)
        assert (found.phrase, found.rule) == (neutral, "neutral")


def test_subject_names_the_media_type_when_a_photo_has_no_caption() -> None:
    assert extract_subject("", "image", "ru").phrase == "ваше фото"
    assert extract_subject("", "sticker", "es").phrase == "tu solicitud"


def test_subject_is_cut_at_a_word_boundary_without_ellipsis_when_the_phrase_is_long() -> None:
    text = (
        "I need a quote for a complete kitchen renovation including cabinets countertops "
        "plumbing and electrical work"
    )
    phrase = extract_subject(text).phrase
    assert len(phrase) <= MAX_CHARS
    assert "…" not in phrase and "..." not in phrase
    assert text.startswith("I need a " + phrase)  # whole words of the client's text
    assert phrase.split()[-1] not in LANGUAGES["en"].dangling


def test_subject_skips_a_self_introduction_when_the_question_follows() -> None:
    text = "Hi, my name is John. How much is delivery of the sofa to Almaty?"
    assert extract_subject(text).phrase == "delivery of the sofa to Almaty"


def test_subject_is_lowered_when_the_client_shouts() -> None:
    assert extract_subject("HOW MUCH IS DELIVERY TO ALMATY???").phrase == "delivery to almaty"


def test_subject_has_no_phone_number_or_url_when_the_text_has_them() -> None:
    phrase = extract_subject("call me +7 701 123 45 67 about the sofa https://x.example/a").phrase
    assert "701" not in phrase and "http" not in phrase


def test_phrase_file_has_every_language_with_neutral_and_media_phrases_when_loaded() -> None:
    assert set(NINE) <= set(LANGUAGES)
    for phrases in LANGUAGES.values():
        assert phrases.neutral.strip() and phrases.lead_ins and phrases.greetings
        assert {"image", "video", "document", "voice"} <= set(phrases.media)


def test_phrase_file_is_refused_when_a_language_has_no_neutral_phrase() -> None:
    raw = json.loads(Path(subject_module.__file__).with_name("subject.json").read_text("utf-8"))
    raw["languages"]["en"]["neutral"] = ""
    with pytest.raises(ValueError, match="neutral"):
        subject_module.load(raw)


def test_greeting_tells_the_language_when_only_one_language_uses_it() -> None:
    assert greeting_language("hola!") == "es"
    assert greeting_language("Привіт") == "uk"
    assert greeting_language("ok") is None


# -- the language --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Hello! I'd like to know more about your CRM for a sales team", "en"),
        ("Добрый день! Сколько стоит доставка дивана в Астану?", "ru"),
        ("Добрий день! Скільки коштує доставка дивана до Києва?", "uk"),
        ("hola, ¿hacen envíos a Valencia?", "es"),
        ("oi, vocês entregam em Campinas?", "pt"),
        ("Hallo, was kostet ein Ölwechsel?", "de"),
        ("bonjour, vous livrez à Lyon ?", "fr"),
        ("ciao, quanto costa il cambio olio", "it"),
        ("merhaba, yağ değişimi ne kadar", "tr"),
    ],
)
def test_language_is_detected_when_the_text_is_a_sentence(text: str, language: str) -> None:
    found = detect_language(text)
    assert (found.code, found.source) == (language, DETECTED)


def test_language_stays_the_chats_when_the_text_is_too_short_to_tell() -> None:
    assert detect_language("ok", known="ru").code == "ru"
    assert detect_language("👍", known="tr").source == KNOWN


def test_language_is_the_default_when_nothing_tells_and_none_is_known() -> None:
    found = detect_language("ok", default="de")
    assert (found.code, found.source) == ("de", DEFAULT)


def test_language_follows_a_greeting_when_the_text_is_a_greeting_alone() -> None:
    summary = summarise("hola")
    assert (summary.language.code, summary.language.source) == ("es", GREETING)
    assert summary.subject.phrase == "tu solicitud"


def test_language_is_one_of_the_configured_when_the_text_is_in_another() -> None:
    assert detect_language("Dzień dobry, ile kosztuje dostawa?", languages=("en", "ru")).code in (
        "en",
        "ru",
    )


# -- the summary and the reply texts -------------------------------------------------------


def test_summary_keeps_the_category_for_routing_when_the_subject_is_the_clients_words() -> None:
    summary = summarise("Hi! How much is delivery to Almaty?")
    fields = summary.fields()
    assert (fields["topic"], fields["category"], fields["language"]) == (
        "delivery to Almaty",
        "delivery",
        "en",
    )


def test_summary_category_is_other_when_no_topic_rule_matches() -> None:
    assert summarise("tell me more about your CRM for a sales team").category_label == OTHER


@pytest.mark.parametrize("language", NINE)
def test_shipped_reply_keeps_the_subject_in_guillemets_when_rendered(language: str) -> None:
    texts = SHIPPED[language]
    body = render_reply(texts.reply, "Maria", "subject words", "Anna")
    assert "«subject words»" in body
    assert "Maria" in body and "Anna" in body and "{{" not in body


def test_reply_text_is_refused_when_the_subject_is_not_in_guillemets() -> None:
    assert template_problem("Hi {{1}}, about {{2}}: {{3}}") is not None
    assert template_problem("Hi {{1}}, about «{{2}}»: {{3}}") is None
    raw = json.loads(Path(replies_module.__file__).with_name("replies.json").read_text("utf-8"))
    raw["languages"]["ru"]["reply"] = "{{1}} {{2}} {{3}}"
    with pytest.raises(ValueError, match="ru"):
        replies_module.load(raw)


def test_default_languages_text_is_the_reply_template_when_the_client_writes_in_it() -> None:
    default = ReplyTexts("Hi {{1}}, «{{2}}», {{3}}", "friend", "Team")
    assert (texts_for("en", default, "en").reply, texts_for("en", default, "en").team) == (
        default.reply,
        "Team",
    )
    assert texts_for("ru", default, "en") == SHIPPED["ru"]
    assert texts_for("xx", default, "en").client == "friend"
