"""The model for the subject (`SubjectExtractor=bedrock`): what Bedrock's Converse API is
asked, which answers are taken, and that anything else leaves the request to the rules and
counts `SubjectModelFallback` with its reason. The bedrock-runtime client is the real one,
answered by botocore's Stubber: nothing here reaches Bedrock or the network."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber
from session_reply import bedrock
from session_reply.bedrock import BedrockModel, bedrock_client
from session_reply.domain.catalogue import parse_catalogue
from session_reply.domain.request import MODEL, summarise
from session_reply.domain.subject_model import (
    MAX_ANSWER_TOKENS,
    NO_SUBJECT,
    NOT_FROM_TEXT,
    NOT_JSON,
    TOO_LONG,
    UNKNOWN_ENTRY,
    UNKNOWN_LANGUAGE,
    AnswerRefused,
    instructions,
    read_answer,
)
from session_reply.flows import send_reply
from session_reply.flows.context import Context
from session_reply.flows.summarise_request import FALLBACK_METRIC, summarise_request
from session_reply.queue import AUTO_REPLY, SendCommand
from session_reply.settings import MODEL_BUDGET_SECONDS, Settings, SettingsError

MODEL_ID = "amazon.nova-micro-v1:0"
SETTINGS = Settings(subject_extractor="bedrock", bedrock_model_id=MODEL_ID)
LANGUAGES = SETTINGS.language_list
ENTRIES = parse_catalogue(
    [
        {
            "id": "corner-sofas",
            "names": {"en": "Corner sofas", "ru": "Угловые диваны"},
            "match": ["corner sofa", "углов диван"],
            "team": ["anna-petrova"],
        }
    ]
)
ENT = (
    "Good afternoon. My son is 7 and has had an ear infection twice this winter, the "
    "second time with a high fever. Our GP suggested a specialist: we'd like a paediatric "
    "ENT consultation, ideally on a Saturday."
)


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The container's bedrock-runtime client, as the sender builds it (no call leaves)."""
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    bedrock_client.cache_clear()
    yield bedrock_client()
    bedrock_client.cache_clear()


def converse_response(answer: str) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 412, "outputTokens": 24, "totalTokens": 436},
        "metrics": {"latencyMs": 380},
    }


def expected_request(text: str, known: str | None = None) -> dict[str, Any]:
    return {
        "modelId": MODEL_ID,
        "system": [{"text": instructions(ENTRIES, LANGUAGES, "en", known)}],
        "messages": [{"role": "user", "content": [{"text": text}]}],
        "inferenceConfig": {"maxTokens": MAX_ANSWER_TOKENS, "temperature": 0.0},
    }


def fallbacks(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The `reason` of each SubjectModelFallback written (EMF lines on stdout)."""
    reasons = []
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("{") and FALLBACK_METRIC in line:
            blob = json.loads(line)
            (directive,) = blob["_aws"]["CloudWatchMetrics"]
            assert [m["Name"] for m in directive["Metrics"]] == [FALLBACK_METRIC]
            assert "reason" in directive["Dimensions"][0]
            reasons.append(blob["reason"])
    return reasons


def rules(text: str) -> Any:
    return summarise(text, "chat", None, "en", LANGUAGES, catalogue=ENTRIES)


def ask(client: Any, text: str, known: str | None = None) -> Any:
    return summarise_request(text, "chat", known, SETTINGS, ENTRIES, BedrockModel(MODEL_ID, client))


# -- taken ---------------------------------------------------------------------------------


def test_model_names_the_subject_when_its_answer_is_the_clients_words(
    client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a long message with its context first, which the rules misname
    answer = '{"subject": "paediatric ENT consultation", "language": "en", "entry": null}'
    assert rules(ENT).subject.phrase != "paediatric ENT consultation"
    with Stubber(client) as stub:
        # (the model gets the text, the catalogue and the languages)
        stub.add_response("converse", converse_response(answer), expected_request(ENT))
        # When the request is summarised in bedrock mode
        summary = ask(client, ENT)
        stub.assert_no_pending_responses()
    # Then the model's subject and language name it, and the category is the rules' own
    assert (summary.subject.phrase, summary.subject.rule) == ("paediatric ENT consultation", MODEL)
    assert (summary.language.code, summary.language.source) == ("en", MODEL)
    assert summary.category == rules(ENT).category
    assert summary.entry is None
    assert fallbacks(capsys) == []


def test_entry_the_model_chose_names_the_reply_in_the_clients_language_when_it_is_known(
    client: Any,
) -> None:
    text = "Здравствуйте, а есть в наличии большой диван буквой Г, серый?"
    answer = (
        '```json\n{"subject": "диван буквой Г", "language": "ru", "entry": "corner-sofas"}\n```'
    )
    with Stubber(client) as stub:
        stub.add_response("converse", converse_response(answer), expected_request(text))
        summary = ask(client, text)
    assert summary.subject.phrase == "Угловые диваны"
    assert summary.fields()["catalogue_team"] == ["anna-petrova"]
    assert summary.fields()["language"] == "ru"


def test_model_is_told_the_chats_known_language_when_the_text_may_be_too_short_to_tell(
    client: Any,
) -> None:
    text = "ok, and the price?"
    answer = '{"subject": "the price", "language": "ru", "entry": null}'
    with Stubber(client) as stub:
        stub.add_response("converse", converse_response(answer), expected_request(text, "ru"))
        summary = ask(client, text, known="ru")
    assert "ru when the message is too short to tell" in instructions(
        ENTRIES, LANGUAGES, "en", "ru"
    )
    assert summary.language.code == "ru"


# -- refused: the rules answer -------------------------------------------------------------

HOW_MUCH = "How much is shipping to Almaty?"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("The request is about shipping to Almaty.", NOT_JSON),
        ('["shipping to Almaty", "en"]', NOT_JSON),
        ('{"subject": "sofa delivery to Almaty", "language": "en", "entry": null}', NOT_FROM_TEXT),
        ('{"subject": "shipping: Almaty", "language": "en", "entry": null}', NOT_FROM_TEXT),
        ('{"subject": "' + "shipping to Almaty " * 3 + '", "language": "en"}', TOO_LONG),
        ('{"subject": "shipping to Almaty", "language": "kk", "entry": null}', UNKNOWN_LANGUAGE),
        ('{"subject": "shipping to Almaty", "entry": null}', UNKNOWN_LANGUAGE),
        ('{"subject": "shipping to Almaty", "language": "en", "entry": "delivery"}', UNKNOWN_ENTRY),
        ('{"subject": "", "language": "en", "entry": null}', NO_SUBJECT),
    ],
)  # fmt: skip
def test_rules_name_the_request_and_the_fallback_is_counted_when_the_answer_is_refused(
    client: Any, capsys: pytest.CaptureFixture[str], answer: str, reason: str
) -> None:
    with Stubber(client) as stub:
        stub.add_response("converse", converse_response(answer), expected_request(HOW_MUCH))
        summary = ask(client, HOW_MUCH)
    assert summary == rules(HOW_MUCH)
    assert fallbacks(capsys) == [reason]


@pytest.mark.parametrize(
    ("code", "status", "reason"),
    [
        ("ThrottlingException", 429, "throttled"),
        ("AccessDeniedException", 403, "error"),
        ("ModelNotReadyException", 429, "error"),
        ("InternalServerException", 500, "error"),
    ],
)
def test_rules_name_the_request_and_the_fallback_is_counted_when_bedrock_answers_an_error(
    client: Any, capsys: pytest.CaptureFixture[str], code: str, status: int, reason: str
) -> None:
    with Stubber(client) as stub:
        stub.add_client_error("converse", code, "no", status, expected_params=expected_request(ENT))
        summary = ask(client, ENT)
        stub.assert_no_pending_responses()
    assert summary == rules(ENT)
    assert fallbacks(capsys) == [reason]


def test_rules_name_the_request_after_one_try_when_bedrock_times_out(
    client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given Bedrock's answer never comes (the HTTP send times out, as urllib3 reports it)
    sent: list[str] = []

    def time_out(request: Any, **_: Any) -> None:
        sent.append(request.url)
        raise ReadTimeoutError(endpoint_url=request.url)

    client.meta.events.register("before-send.bedrock-runtime.Converse", time_out)
    try:
        summary = ask(client, ENT)
    finally:
        client.meta.events.unregister("before-send.bedrock-runtime.Converse", time_out)
    # Then the rules answer, after one request and no retry
    assert summary == rules(ENT)
    assert fallbacks(capsys) == ["timeout"]
    assert len(sent) == 1 and sent[0].endswith("/model/amazon.nova-micro-v1%3A0/converse")


def test_model_is_not_asked_when_the_request_is_a_greeting_or_has_no_words(
    client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with Stubber(client) as stub:  # no response queued: a call would be refused and counted
        for text in ("Hello!", "👍", "", "Добрый день!"):
            assert ask(client, text) == rules(text)
        stub.assert_no_pending_responses()
    assert fallbacks(capsys) == []


def test_context_has_a_subject_model_only_when_the_extractor_is_bedrock() -> None:
    ctx = Context(Settings(), store=None, queue=None, bus=None)  # type: ignore[arg-type]
    assert ctx.subject_model is None
    bedrock_ctx = Context(SETTINGS, store=None, queue=None, bus=None)  # type: ignore[arg-type]
    assert bedrock_ctx.subject_model is not None
    assert bedrock_ctx.subject_model.model_id == MODEL_ID


# -- the answer's checks, alone ------------------------------------------------------------


def test_answer_is_taken_when_its_subject_is_a_catalogue_name_the_client_did_not_write() -> None:
    found = read_answer(
        '{"subject": "Corner sofas", "language": "en", "entry": "corner-sofas"}',
        "do you have an L-shaped couch?",
        ENTRIES,
        LANGUAGES,
    )
    assert found.entry is not None and found.entry.id == "corner-sofas"


def test_answer_keeps_the_clients_punctuation_and_drops_its_own_at_the_ends() -> None:
    text = "hey, my order #48213 still hasn't arrived"
    found = read_answer(
        '{"subject": "«order #48213 still hasn\'t arrived.»", "language": "en"}',
        text,
        (),
        LANGUAGES,
    )
    assert found.subject == "order #48213 still hasn't arrived"
    with pytest.raises(AnswerRefused) as refused:
        read_answer('{"subject": "order №48213", "language": "en"}', text, (), LANGUAGES)
    assert refused.value.reason == NOT_FROM_TEXT


def test_answer_words_match_the_text_whatever_their_case_and_accents() -> None:
    found = read_answer(
        '{"subject": "envios a Valencia", "language": "es"}',
        "hola, ¿hacen ENVÍOS a Valencia?",
        (),
        LANGUAGES,
    )
    assert found.subject == "envios a Valencia"


# -- the time budget -----------------------------------------------------------------------


def test_bedrock_client_gives_up_within_the_budget_and_never_retries(client: Any) -> None:
    config = client.meta.config
    assert config.connect_timeout + config.read_timeout <= MODEL_BUDGET_SECONDS <= 1.5
    assert config.retries["total_max_attempts"] == 1
    assert bedrock.READ_SECONDS > 0


def test_burst_wait_is_shorter_by_the_models_budget_when_the_extractor_is_bedrock() -> None:
    assert Settings(burst_seconds=3).burst_wait_seconds == 3
    assert Settings(burst_seconds=3, subject_extractor="bedrock").burst_wait_seconds == 1.5
    assert Settings(burst_seconds=1, subject_extractor="bedrock").burst_wait_seconds == 0
    with pytest.raises(SettingsError, match="SUBJECT_EXTRACTOR"):
        Settings(subject_extractor="openai")


@pytest.mark.parametrize(("extractor", "waits"), [("rules", True), ("bedrock", False)])
def test_sender_reads_the_request_once_the_burst_wait_is_over_for_its_extractor(
    extractor: str, waits: bool
) -> None:
    # Given a request opened 2 s ago with a 3 s burst window
    settings = Settings(burst_seconds=3, subject_extractor=extractor)
    read = (None, [])
    store = SimpleNamespace(lead_and_messages=lambda chat_id, limit: (*read, True))
    ctx = SimpleNamespace(settings=settings, store=store)
    command = SendCommand(AUTO_REPLY, "wamid.1", "77011234567@c.us", "s1", time.time() - 2)
    # When the sender takes it: rules mode still waits; bedrock mode reads it now, so the
    # model's 1.5 s fit in the same 3 s
    if waits:
        with pytest.raises(send_reply.BurstWindowOpen):
            send_reply._read_request(command, ctx)  # type: ignore[arg-type]
    else:
        assert send_reply._read_request(command, ctx) == read  # type: ignore[arg-type]


# -- scoring the model on the labelled set -------------------------------------------------


def test_accuracy_report_counts_the_models_answers_when_scoring_bedrock_mode(
    client: Any,
) -> None:
    from scripts.subject_accuracy import Case, predict_with_model

    cases = [
        Case(ENT, "en", "clinic", ("paediatric ENT consultation",), "holdout-3"),
        Case(HOW_MUCH, "en", "shop", ("shipping to Almaty",), "holdout-3"),
    ]
    answer = '{"subject": "paediatric ENT consultation", "language": "en", "entry": null}'
    with Stubber(client) as stub:
        stub.add_response("converse", converse_response(answer))
        stub.add_response("converse", converse_response("shipping to Almaty"))
        outcomes, line = predict_with_model(cases, BedrockModel(MODEL_ID, client))
    assert [o.subject_ok for o in outcomes] == [True, True]  # the second by the rules
    assert [o.rule for o in outcomes] == [MODEL, "excerpt"]
    assert line.endswith("1 of 2 answers taken; fallbacks to the rules: {'not_json': 1}")


def test_readme_states_the_cost_make_bench_computes_for_bedrock_mode() -> None:
    from bench.model_cost import estimate

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    nova = estimate("amazon.nova-micro-v1:0")
    haiku = estimate("anthropic.claude-3-haiku-20240307-v1:0")
    assert f"**{nova.input_tokens} input tokens**" in readme
    assert f"**{nova.output_tokens} output tokens**" in readme
    assert f"**${nova.total:.4f} per 1,000 conversations**" in readme
    assert f"**${haiku.total:.4f}**" in readme
