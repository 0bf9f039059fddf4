"""Properties that must hold for any input (hypothesis), not only for the examples we thought of."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from session_reply.domain.topic import GREETINGS, RULES, extract_topic
from session_reply.errors import PermanentError, RetryableError
from session_reply.onemsg.errors import Accepted, Queued, classify
from session_reply.onemsg.wire import (
    InboundMessage,
    StatusReport,
    normalise_chat_id,
    parse_hook,
    truthy,
)

# Fast and reproducible: no example database on disk, the same examples on every run.
FAST = settings(
    max_examples=200,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
NOW = 1_700_000_000
# What the documented 1MSG booleans look like as strings (`fromMe`: true/1/"1"/"true"),
# plus "yes", which wire.py also accepts.
TRUE_STRINGS = {"1", "true", "yes"}

# -- JSON values ---------------------------------------------------------------------------

# Finite numbers only here; infinities (a literal such as 1e400) have their own tests
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
# Keys 1MSG uses, so the generated items often look almost right.
item_keys = st.sampled_from(
    [
        "id",
        "chatId",
        "author",
        "body",
        "caption",
        "type",
        "senderName",
        "chatName",
        "fromMe",
        "self",
        "time",
        "quotedMsgId",
        "status",
        "error",
        "errors",
        "phone",
        "recipient_id",
        "timestamp",
    ]
) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(item_keys, children, max_size=6)
    ),
    max_leaves=25,
)
plausible_ids = st.sampled_from(["wamid.A", "wamid.B", "", " ", "0"]) | json_scalars
plausible_statuses = st.sampled_from(
    ["sent", "delivered", "read", "failed", "viewed", "undelivered", "queued", " READ "]
)
message_like = st.fixed_dictionaries(
    {"id": plausible_ids},
    optional={
        "chatId": st.sampled_from(["77011234567@c.us", "77011234567", "+7 701", ""]) | json_values,
        "author": json_values,
        "body": json_values,
        "type": st.sampled_from(["chat", "image", "voice", "IMAGE"]) | json_values,
        "fromMe": json_values,
        "self": json_values,
        "time": st.integers() | st.text(max_size=12) | json_values,
        "senderName": json_values,
    },
)
status_like = st.fixed_dictionaries(
    {"id": plausible_ids, "status": plausible_statuses | json_values},
    optional={
        "chatId": json_values,
        "phone": json_values,
        "error": json_values,
        "errors": json_values,
        "timestamp": st.integers() | st.text(max_size=12) | json_values,
    },
)
item_lists = {
    "messages": st.lists(message_like | json_values, max_size=5) | json_values,
    "ack": st.lists(status_like | json_values, max_size=5) | json_values,
    "hooks": st.lists(status_like | json_values, max_size=5) | json_values,
    "instanceId": json_values,
}
hook_bodies = st.fixed_dictionaries({}, optional=item_lists) | st.dictionaries(
    st.sampled_from([*item_lists, "type", "entry"]) | st.text(max_size=8), json_values, max_size=5
)


def items_in(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    return value if isinstance(value, list) else []


@FAST
@given(data=hook_bodies)
def test_parse_hook_sorts_every_item_into_one_bucket_when_body_is_any_json_object(
    data: dict[str, Any],
) -> None:
    # When any JSON object is parsed (it must not raise)
    hook = parse_hook(data, NOW)

    # Then every array item is a message, a status or rejected, exactly once
    messages = items_in(data, "messages")
    statuses = items_in(data, "ack") + items_in(data, "hooks")
    assert len(hook.messages) + len(hook.statuses) + len(hook.rejected) == len(messages) + len(
        statuses
    )
    assert len(hook.messages) <= len(messages)
    assert len(hook.statuses) <= len(statuses)
    assert all(any(raw is item for item in messages + statuses) for _, raw in hook.rejected)
    assert all(reason for reason, _ in hook.rejected)
    # And what was parsed is clean
    assert all(isinstance(m, InboundMessage) and m.id and m.chat_id for m in hook.messages)
    assert all(m.time > 0 for m in hook.messages)
    assert all(
        isinstance(s, StatusReport) and s.status in {"sent", "delivered", "read", "failed"}
        for s in hook.statuses
    )
    assert hook.instance_id is None or isinstance(hook.instance_id, str)


# -- truthy --------------------------------------------------------------------------------


def case_variants(word: str) -> st.SearchStrategy[str]:
    """`word` in any mix of upper and lower case, with optional surrounding whitespace."""
    letters = st.tuples(*(st.sampled_from([c.lower(), c.upper()]) for c in word)).map("".join)
    space = st.sampled_from(["", " ", "\t", "\n", "  "])
    return st.tuples(space, letters, space).map("".join)


@FAST
@given(value=st.sampled_from(sorted(TRUE_STRINGS)).flatmap(case_variants))
def test_truthy_is_true_when_string_is_a_documented_true_in_any_case(value: str) -> None:
    assert truthy(value) is True


# Strings 1MSG or a person might send that look boolean but are not in the set.
NEAR_MISSES = ["on", "y", "t", "ok", "0", "false", "no", "off", "1.0", "11", "truee", "yes!"]


@FAST
@given(
    value=st.text(max_size=12)
    | st.sampled_from(sorted(TRUE_STRINGS) + NEAR_MISSES).flatmap(case_variants)
)
@example(value="on")
@example(value=" Y ")
@example(value="false")
@example(value="1.0")
def test_truthy_agrees_with_the_documented_set_when_value_is_any_string(value: str) -> None:
    assert truthy(value) is (value.strip().lower() in TRUE_STRINGS)


@FAST
@given(value=st.integers() | st.floats(allow_nan=False))
def test_truthy_is_true_exactly_for_non_zero_when_value_is_a_number(value: float) -> None:
    assert truthy(value) is (value != 0)


@FAST
@given(value=st.none() | st.lists(json_scalars) | st.dictionaries(st.text(), json_scalars))
def test_truthy_is_false_when_value_is_not_a_bool_number_or_string(value: object) -> None:
    assert truthy(value) is False


# -- normalise_chat_id ---------------------------------------------------------------------

chat_like = (
    st.text(max_size=30)
    | st.from_regex(r"\+?\d{1,3}[ (]?\d{3}[) -]?\d{3}[ -]?\d{2}[ -]?\d{2}", fullmatch=True)
    | st.from_regex(r"\d{5,15}@(c|g)\.us", fullmatch=True)
    | st.integers(min_value=0)
    | st.none()
)


@FAST
@given(value=chat_like)
def test_normalise_chat_id_is_idempotent_when_value_is_anything(value: object) -> None:
    once = normalise_chat_id(value)

    assert normalise_chat_id(once) == once


@FAST
@given(value=chat_like)
def test_normalise_chat_id_is_empty_or_an_id_when_value_is_anything(value: object) -> None:
    result = normalise_chat_id(value)

    assert result == "" or "@" in result
    assert result == result.strip()


# -- classify ------------------------------------------------------------------------------

send_answers = (
    st.fixed_dictionaries(
        {},
        optional={
            "sent": st.booleans() | json_scalars,
            "id": st.sampled_from(["wamid.X", ""]) | json_scalars,
            "jobId": json_scalars,
            "message": st.sampled_from(["Dialog window is closed", "Invalid phone"]) | json_scalars,
            "error": json_values,
            "description": json_scalars,
        },
    )
    | json_values
)


@FAST
@given(status_code=st.integers(min_value=100, max_value=599), payload=send_answers)
def test_classify_returns_outcome_or_typed_error_when_answer_is_anything(
    status_code: int, payload: Any
) -> None:
    try:
        outcome = classify(status_code, payload)
    except (RetryableError, PermanentError) as error:
        # Then a failure is one of the two kinds, never both
        assert isinstance(error, RetryableError) != isinstance(error, PermanentError)
        return
    # Or a success, which only a 2xx JSON object can be
    assert isinstance(outcome, Accepted | Queued)
    assert 200 <= status_code < 300
    assert isinstance(payload, dict)
    if isinstance(outcome, Accepted):
        assert payload.get("sent") is True
        assert outcome.provider_id


@FAST
@given(status_code=st.integers(min_value=100, max_value=599), payload=send_answers)
def test_classify_never_accepts_when_status_code_is_not_2xx(status_code: int, payload: Any) -> None:
    if 200 <= status_code < 300:
        return
    with pytest.raises((RetryableError, PermanentError)):
        classify(status_code, payload)


# -- extract_topic -------------------------------------------------------------------------

urls = st.builds(
    "{}{}.{}/{}".format,
    st.sampled_from(["http://", "https://", "HTTPS://", "www."]),
    st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True),
    st.sampled_from(["com", "io", "test", "com.br"]),
    st.from_regex(r"[A-Za-z0-9/?=&._-]{0,20}", fullmatch=True),
)
emails = st.from_regex(r"[a-z0-9.]{1,10}@[a-z0-9]{1,8}\.[a-z]{2,3}", fullmatch=True)
long_numbers = st.from_regex(r"\+?\d{8,15}", fullmatch=True) | st.from_regex(
    r"\+\d{1,3} \(\d{3}\) \d{3}-\d{2}-\d{2}", fullmatch=True
)
stems = st.sampled_from([stem for rule in RULES for stem in rule.stems])
words = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12
)
fragments = (
    words
    | urls
    | emails
    | long_numbers
    | stems
    | st.sampled_from(sorted(GREETINGS))
    | st.sampled_from(["!", ",", "?", "👋", "😀", "—"])
)
requests = st.lists(fragments, max_size=10).map(" ".join)
message_types = st.sampled_from(["chat", "image", "voice", "document", "button", "location"])
URL = re.compile(r"(https?://|www\.)[^\s…]", re.IGNORECASE)


@FAST
@given(text=requests, kind=message_types)
def test_extract_topic_gives_a_label_when_text_is_anything(text: str, kind: str) -> None:
    topic = extract_topic(text, kind)

    assert topic.label.strip()
    assert 0.0 <= topic.confidence <= 1.0


@FAST
@given(text=requests, kind=message_types)
def test_extract_topic_label_has_no_url_or_long_number_when_text_has_them(
    text: str, kind: str
) -> None:
    label = extract_topic(text, kind).label

    assert URL.search(label) is None
    assert re.search(r"\d{8,}", label) is None
    assert "@" not in label or not re.search(r"\S+@\S+\.\S+", label)


@FAST
@example(text="call me at 5551234 please")
@given(text=st.tuples(words, st.from_regex(r"\d{7,12}", fullmatch=True), words).map(" ".join))
def test_extract_topic_label_has_no_seven_digit_run_when_text_has_one(text: str) -> None:
    assert re.search(r"\d{7,}", extract_topic(text).label) is None
