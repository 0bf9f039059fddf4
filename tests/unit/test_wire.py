"""Webhook body parsing (`session_reply.onemsg.wire`): provider quirks in, clean types out."""

from __future__ import annotations

import json

import pytest
from session_reply.onemsg.wire import (
    MAX_CLOCK_SKEW_SECONDS,
    HookBody,
    InboundMessage,
    MalformedHookError,
    StatusReport,
    decode_body,
    normalise_chat_id,
    normalise_status,
    parse_hook,
    parse_hook_info,
    parse_message,
    parse_status,
    truthy,
)

NOW = 1_700_000_000
CHAT = "77011234567@c.us"


def message_item(**overrides: object) -> dict[str, object]:
    item: dict[str, object] = {
        "id": "wamid.IN1",
        "body": "Where is my order?",
        "type": "chat",
        "senderName": "Anna",
        "chatName": "Anna P.",
        "chatId": CHAT,
        "author": CHAT,
        "fromMe": False,
        "self": 0,
        "time": 1_699_999_990,
    }
    item.update(overrides)
    return item


def ack_item(**overrides: object) -> dict[str, object]:
    item: dict[str, object] = {"id": "wamid.OUT1", "status": "delivered", "chatId": CHAT}
    item.update(overrides)
    return item


# -- truthy --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [True, 1, "1", "true", "TRUE", " True ", "yes", 2, 1.5])
def test_truthy_is_true_when_value_is_a_provider_true(value: object) -> None:
    assert truthy(value) is True


@pytest.mark.parametrize(
    "value", [False, 0, 0.0, "0", "false", "", " ", "no", "ours", None, [], {}, [1], {"a": 1}]
)
def test_truthy_is_false_when_value_is_not_a_provider_true(value: object) -> None:
    assert truthy(value) is False


# -- normalise_chat_id / normalise_status --------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("79001234567@c.us", "79001234567@c.us"),
        ("120363041234567890@g.us", "120363041234567890@g.us"),
        ("79001234567", "79001234567@c.us"),
        ("+7 (900) 123-45-67", "79001234567@c.us"),
        (79001234567, "79001234567@c.us"),
        ("  79001234567@c.us  ", "79001234567@c.us"),
    ],
)
def test_normalise_chat_id_gives_provider_form_when_value_is_an_id_or_phone(
    raw: object, expected: str
) -> None:
    assert normalise_chat_id(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "   ", "no digits here", True])
def test_normalise_chat_id_is_empty_when_value_holds_no_digits(raw: object) -> None:
    assert normalise_chat_id(raw) == ""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("sent", "sent"),
        ("delivered", "delivered"),
        ("read", "read"),
        ("failed", "failed"),
        ("viewed", "read"),
        ("undelivered", "failed"),
        (" Delivered ", "delivered"),
        ("READ", "read"),
    ],
)
def test_normalise_status_maps_aliases_when_status_is_known(raw: str, expected: str) -> None:
    assert normalise_status(raw) == expected


@pytest.mark.parametrize("raw", ["queued", "pending", "", None, 3, "deleted"])
def test_normalise_status_is_none_when_status_is_unknown(raw: object) -> None:
    assert normalise_status(raw) is None


# -- decode_body ---------------------------------------------------------------------------


def test_decode_body_returns_the_object_when_body_is_a_json_object() -> None:
    # Given a body as API Gateway hands it over (str) and as raw bytes
    raw = json.dumps({"instanceId": "100001", "messages": []})

    # Then both decode to the same object
    assert decode_body(raw) == {"instanceId": "100001", "messages": []}
    assert decode_body(raw.encode()) == {"instanceId": "100001", "messages": []}


def test_decode_body_reads_json_when_body_starts_with_a_utf8_byte_order_mark() -> None:
    # Given a body whose sender wrote UTF-8 with a BOM, as text (API Gateway) and as bytes
    raw = "\ufeff" + json.dumps({"instanceId": "100001", "messages": []})

    # Then it is the same object, not "body is not JSON"
    assert decode_body(raw) == {"instanceId": "100001", "messages": []}
    assert decode_body(raw.encode()) == {"instanceId": "100001", "messages": []}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "empty body"),
        ("", "empty body"),
        ("  \n", "empty body"),
        (b"", "empty body"),
        ("instanceId=1", "body is not JSON"),
        ('{"messages": [', "body is not JSON"),
        (b"\xff\xfe\xfa", "body is not JSON"),
        ("[1, 2]", "body is not a JSON object"),
        ('"text"', "body is not a JSON object"),
        ("null", "body is not a JSON object"),
    ],
)
def test_decode_body_raises_malformed_with_reason_when_body_is_not_an_object(
    raw: str | bytes | None, reason: str
) -> None:
    with pytest.raises(MalformedHookError, match=f"^{reason}$"):
        decode_body(raw)


def test_decode_body_error_is_a_value_error_when_caller_catches_broadly() -> None:
    assert issubclass(MalformedHookError, ValueError)


def test_decode_body_raises_malformed_when_body_is_nested_too_deep() -> None:
    # Given 5 000 nested arrays inside an object: 10 kB, far under max_webhook_bytes
    raw = '{"messages": ' + "[" * 5_000 + "]" * 5_000 + "}"

    # Then it is a malformed body like any other
    with pytest.raises(MalformedHookError):
        decode_body(raw)


# -- parse_message -------------------------------------------------------------------------


def test_parse_message_returns_clean_fields_when_item_is_a_client_text() -> None:
    message = parse_message(message_item(quotedMsgId="wamid.Q"), NOW)

    assert message == InboundMessage(
        id="wamid.IN1",
        chat_id=CHAT,
        type="chat",
        body="Where is my order?",
        caption="",
        sender_name="Anna",
        from_me=False,
        via_api=False,
        time=1_699_999_990,
        quoted_id="wamid.Q",
    )


@pytest.mark.parametrize(
    ("from_me", "expected"), [(True, True), (1, True), ("1", True), ("true", True), (0, False)]
)
def test_parse_message_reads_from_me_when_provider_sends_any_true_form(
    from_me: object, expected: bool
) -> None:
    assert parse_message(message_item(fromMe=from_me), NOW).from_me is expected


@pytest.mark.parametrize(("self_flag", "expected"), [(1, True), ("1", True), (0, False)])
def test_parse_message_reads_via_api_when_self_flag_is_set(
    self_flag: object, expected: bool
) -> None:
    assert parse_message(message_item(self=self_flag), NOW).via_api is expected


def test_parse_message_leaves_via_api_unknown_when_self_flag_is_missing() -> None:
    item = message_item()
    del item["self"]

    assert parse_message(item, NOW).via_api is None


@pytest.mark.parametrize(
    ("time", "expected"),
    [
        (1_699_999_990, 1_699_999_990),
        ("1699999990", 1_699_999_990),
        (" 1699999990 ", 1_699_999_990),
        (1_699_999_990.7, 1_699_999_990),
        ("1699999990.7", 1_699_999_990),
    ],
)
def test_parse_message_uses_provider_time_when_time_is_int_or_string(
    time: object, expected: int
) -> None:
    assert parse_message(message_item(time=time), NOW).time == expected


@pytest.mark.parametrize("time", [None, "", "soon", 0, -5, True, [1], "nan"])
def test_parse_message_falls_back_to_now_when_time_is_missing_or_invalid(time: object) -> None:
    assert parse_message(message_item(time=time), NOW).time == NOW


def test_parse_message_uses_author_when_chat_id_is_missing() -> None:
    item = message_item(author="79005550000@c.us")
    del item["chatId"]

    assert parse_message(item, NOW).chat_id == "79005550000@c.us"


def test_parse_message_normalises_chat_id_when_it_is_bare_digits() -> None:
    assert parse_message(message_item(chatId="79005550000"), NOW).chat_id == "79005550000@c.us"


def test_parse_message_uses_chat_name_when_sender_name_is_missing() -> None:
    item = message_item(chatName="  Anna P.  ")
    del item["senderName"]

    assert parse_message(item, NOW).sender_name == "Anna P."


def test_parse_message_defaults_type_to_chat_when_type_is_missing() -> None:
    item = message_item()
    del item["type"]

    assert parse_message(item, NOW).type == "chat"


def test_parse_message_lowercases_type_when_provider_sends_capitals() -> None:
    assert parse_message(message_item(type=" Image "), NOW).type == "image"


def test_parse_message_has_no_quoted_id_when_quoted_msg_id_is_missing_or_empty() -> None:
    assert parse_message(message_item(), NOW).quoted_id is None
    assert parse_message(message_item(quotedMsgId=""), NOW).quoted_id is None


def test_parse_message_keeps_id_as_opaque_string_when_id_is_a_number() -> None:
    assert parse_message(message_item(id=12345), NOW).id == "12345"


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ("not an object", "message item is not an object"),
        (["a"], "message item is not an object"),
        (None, "message item is not an object"),
        ({"chatId": CHAT}, "message has no id"),
        ({"id": "  ", "chatId": CHAT}, "message has no id"),
        ({"id": "wamid.X"}, "message has no chatId"),
        ({"id": "wamid.X", "chatId": "unknown"}, "message has no chatId"),
    ],
)
def test_parse_message_raises_value_error_when_item_is_unusable(item: object, reason: str) -> None:
    with pytest.raises(ValueError, match=f"^{reason}$"):
        parse_message(item, NOW)


@pytest.mark.parametrize("ahead", [121, 3_600, 86_400 * 365, "1799999999"])
def test_parse_message_clamps_time_to_now_plus_skew_when_provider_time_is_in_the_future(
    ahead: object,
) -> None:
    time = NOW + ahead if isinstance(ahead, int) else ahead
    assert parse_message(message_item(time=time), NOW).time == NOW + MAX_CLOCK_SKEW_SECONDS


def test_parse_message_keeps_time_when_it_is_ahead_by_less_than_the_skew() -> None:
    assert parse_message(message_item(time=NOW + 30), NOW).time == NOW + 30


@pytest.mark.parametrize(
    "time",
    [1e400, "inf", "1e999", "-Infinity"],
    ids=["float-1e400", "inf", "str-1e999", "-Infinity"],
)
def test_parse_message_falls_back_to_now_when_time_overflows(time: object) -> None:
    assert parse_message(message_item(time=time), NOW).time == NOW


# -- InboundMessage properties -------------------------------------------------------------


def test_message_text_is_caption_when_message_is_media() -> None:
    # Given an image: its body is a temporary download URL, the words are in the caption
    item = message_item(type="image", body="https://cdn.1msg.io/tmp/abc.jpg", caption="Is it red?")

    message = parse_message(item, NOW)

    assert message.text == "Is it red?"
    assert message.body == "https://cdn.1msg.io/tmp/abc.jpg"


@pytest.mark.parametrize("kind", ["chat", "button", "reaction"])
def test_message_text_is_body_when_message_is_not_media(kind: str) -> None:
    message = parse_message(message_item(type=kind, body="Yes", caption="ignored"), NOW)

    assert message.text == "Yes"


def test_message_phone_is_digits_of_chat_id_when_chat_is_private() -> None:
    message = parse_message(message_item(), NOW)

    assert message.phone == "77011234567"
    assert message.is_private_chat is True


def test_message_is_not_private_when_chat_is_a_group() -> None:
    message = parse_message(message_item(chatId="120363041234567890@g.us"), NOW)

    assert message.is_private_chat is False


# -- parse_status --------------------------------------------------------------------------


def test_parse_status_returns_report_when_ack_is_complete() -> None:
    assert parse_status(ack_item()) == StatusReport(
        id="wamid.OUT1", status="delivered", chat_id=CHAT, error=None, timestamp=None
    )


@pytest.mark.parametrize(
    ("raw", "expected"), [("viewed", "read"), ("undelivered", "failed"), ("Read", "read")]
)
def test_parse_status_maps_legacy_names_when_status_is_an_alias(raw: str, expected: str) -> None:
    assert parse_status(ack_item(status=raw)).status == expected


@pytest.mark.parametrize(
    ("chat_fields", "expected"),
    [
        ({"chatId": CHAT}, CHAT),
        ({"recipient_id": "77011234567"}, CHAT),
        ({"phone": "+7 701 123 45 67"}, CHAT),
        ({}, None),
    ],
)
def test_parse_status_finds_chat_when_any_chat_field_is_present(
    chat_fields: dict[str, str], expected: str | None
) -> None:
    item = {"id": "wamid.OUT1", "status": "sent", **chat_fields}

    assert parse_status(item).chat_id == expected


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("Dialog window is closed", "Dialog window is closed"),
        ({"code": 131047, "title": "Re-engagement message"}, "131047 Re-engagement message"),
        ({"message": "Message undeliverable"}, "Message undeliverable"),
        ([{"code": 131026, "title": "Message undeliverable"}], "131026 Message undeliverable"),
        ({"details": "no title"}, "no title"),
        ({"foo": "bar"}, '{"foo": "bar"}'),
        ("x" * 800, "x" * 500),
    ],
)
def test_parse_status_reads_error_text_when_failure_has_any_error_shape(
    error: object, expected: str
) -> None:
    report = parse_status(ack_item(status="failed", error=error))

    assert report.error == expected


def test_parse_status_reads_errors_array_when_error_key_is_missing() -> None:
    item = ack_item(status="failed", errors=[{"code": 131047, "title": "Re-engagement message"}])

    assert parse_status(item).error == "131047 Re-engagement message"


@pytest.mark.parametrize("error", [None, "", [], {}])
def test_parse_status_has_no_error_when_error_is_empty(error: object) -> None:
    assert parse_status(ack_item(status="failed", error=error)).error is None


@pytest.mark.parametrize(("timestamp", "expected"), [(1_700_000_100, 1_700_000_100), ("17", 17)])
def test_parse_status_reads_timestamp_when_hook_info_gives_one(
    timestamp: object, expected: int
) -> None:
    assert parse_status(ack_item(timestamp=timestamp)).timestamp == expected


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ("sent", "status item is not an object"),
        ({"status": "sent"}, "status has no id"),
        ({"id": "", "status": "sent"}, "status has no id"),
        ({"id": "wamid.OUT1"}, "unknown status value"),
        ({"id": "wamid.OUT1", "status": "queued"}, "unknown status value"),
    ],
)
def test_parse_status_raises_value_error_when_item_is_unusable(item: object, reason: str) -> None:
    with pytest.raises(ValueError, match=f"^{reason}$"):
        parse_status(item)


# -- parse_hook ----------------------------------------------------------------------------


def test_parse_hook_reads_messages_when_body_has_messages_array() -> None:
    hook = parse_hook({"instanceId": "100001", "messages": [message_item()]}, NOW)

    assert hook.instance_id == "100001"
    assert [m.id for m in hook.messages] == ["wamid.IN1"]
    assert hook.statuses == []
    assert hook.rejected == []


def test_parse_hook_reads_statuses_when_body_has_ack_array() -> None:
    hook = parse_hook({"instanceId": "100001", "ack": [ack_item(), ack_item(status="read")]}, NOW)

    assert [(s.id, s.status) for s in hook.statuses] == [
        ("wamid.OUT1", "delivered"),
        ("wamid.OUT1", "read"),
    ]
    assert hook.messages == []


def test_parse_hook_reads_statuses_when_body_has_hooks_array() -> None:
    # Given the payload 1MSG's use-case page describes: hookInfo-shaped entries in hooks[]
    body = {"hooks": [{"id": "wamid.OUT1", "status": "read", "recipient_id": "77011234567"}]}

    hook = parse_hook(body, NOW)

    assert hook.statuses == [StatusReport(id="wamid.OUT1", status="read", chat_id=CHAT)]


def test_parse_hook_reads_every_array_when_one_body_holds_all_of_them() -> None:
    body = {
        "instanceId": 100001,
        "messages": [message_item(), message_item(id="wamid.IN2")],
        "ack": [ack_item()],
        "hooks": [ack_item(id="wamid.OUT2", status="sent")],
    }

    hook = parse_hook(body, NOW)

    assert hook.instance_id == "100001"
    assert [m.id for m in hook.messages] == ["wamid.IN1", "wamid.IN2"]
    assert [s.id for s in hook.statuses] == ["wamid.OUT1", "wamid.OUT2"]


def test_parse_hook_keeps_bad_items_as_rejected_when_some_items_are_unusable() -> None:
    # Given one good and two bad items in each array
    bad_message = {"chatId": CHAT}
    bad_ack = {"id": "wamid.OUT9", "status": "queued"}
    body = {
        "messages": [message_item(), bad_message, "junk"],
        "ack": [ack_item(), bad_ack, 7],
    }

    hook = parse_hook(body, NOW)

    # Then the good ones are parsed and the bad ones kept, raw, with a reason each
    assert len(hook.messages) == 1
    assert len(hook.statuses) == 1
    assert sorted(hook.rejected, key=str) == sorted(
        [
            ("message has no id", bad_message),
            ("message item is not an object", "junk"),
            ("unknown status value", bad_ack),
            ("status item is not an object", 7),
        ],
        key=str,
    )


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"instanceId": "100001"},
        {"type": "calls", "data": {"id": "c1"}},
        {"entry": [{"changes": []}]},
        {"messages": "not a list", "ack": {"id": "x"}, "hooks": None},
        {"messages": [], "ack": []},
    ],
)
def test_parse_hook_is_empty_when_body_holds_no_known_items(body: dict[str, object]) -> None:
    hook = parse_hook(body, NOW)

    assert hook.is_empty is True
    assert hook.rejected == []


@pytest.mark.parametrize("instance", [None, ""])
def test_parse_hook_has_no_instance_when_instance_id_is_missing_or_empty(instance: object) -> None:
    assert parse_hook({"instanceId": instance}, NOW).instance_id is None


def test_hook_body_is_not_empty_when_it_holds_only_a_status() -> None:
    hook = HookBody(instance_id=None, statuses=[StatusReport(id="x", status="sent")])

    assert hook.is_empty is False


def test_parse_hook_uses_now_for_message_time_when_time_is_missing() -> None:
    item = message_item()
    del item["time"]

    hook = parse_hook({"messages": [item]}, NOW)

    assert hook.messages[0].time == NOW


def test_parse_hook_keeps_body_when_a_number_overflows() -> None:
    # Given a valid JSON body whose ack timestamp overflows a float
    data = decode_body('{"ack": [{"id": "wamid.OUT1", "status": "read", "timestamp": 1e400}]}')

    # When it is parsed
    hook = parse_hook(data, NOW)

    # Then nothing raises and the ack is either parsed or kept as rejected
    assert len(hook.statuses) + len(hook.rejected) == 1


# -- parse_hook_info -----------------------------------------------------------------------


def test_parse_hook_info_returns_every_entry_when_answer_has_several() -> None:
    answer = {
        "hooks": [
            {"id": "wamid.OUT1", "status": "sent", "timestamp": "1700000001"},
            {"id": "wamid.OUT1", "status": "delivered", "timestamp": 1_700_000_002},
            {"id": "wamid.OUT1", "status": "read", "timestamp": 1_700_000_003},
        ]
    }

    reports = parse_hook_info(answer)

    assert [(r.status, r.timestamp) for r in reports] == [
        ("sent", 1_700_000_001),
        ("delivered", 1_700_000_002),
        ("read", 1_700_000_003),
    ]


def test_parse_hook_info_skips_entries_when_they_cannot_be_parsed() -> None:
    answer = {"hooks": [{"status": "read"}, "junk", {"id": "wamid.OUT1", "status": "viewed"}]}

    assert parse_hook_info(answer) == [StatusReport(id="wamid.OUT1", status="read")]


@pytest.mark.parametrize(
    "answer", [None, {}, {"hooks": []}, {"hooks": "none"}, [], "Not found", {"error": "x"}]
)
def test_parse_hook_info_is_empty_when_answer_is_empty_or_legacy(answer: object) -> None:
    assert parse_hook_info(answer) == []


def test_parse_message_reads_seconds_when_time_is_given_in_milliseconds() -> None:
    assert parse_message(message_item(time=1_699_999_990_123), NOW).time == 1_699_999_990


def test_parse_status_reads_seconds_when_timestamp_is_in_milliseconds() -> None:
    report = parse_status({"id": "wamid.X", "status": "read", "timestamp": "1699999990123"})
    assert report.timestamp == 1_699_999_990


@pytest.mark.parametrize(
    ("overrides", "kind"),
    [
        ({"type": "reaction", "body": "👍"}, "reaction"),
        ({"type": "request_welcome", "body": ""}, "request_welcome"),
        (
            {"type": "interactive", "interactive": {"type": "call_permission_reply"}},
            "call_permission_reply",
        ),
        ({"type": None, "reaction": {"emoji": "👍", "message_id": "wamid.X"}}, "reaction"),
    ],
)
def test_message_is_not_a_request_when_it_is_a_reaction_welcome_or_call_answer(
    overrides: dict[str, object], kind: str
) -> None:
    message = parse_message(message_item(**overrides), NOW)
    assert message.type == kind
    assert message.is_request is False


def test_message_is_not_a_request_when_it_comes_on_a_broadcast_id() -> None:
    message = parse_message(message_item(chatId="status@broadcast"), NOW)
    assert message.is_request is False


def test_text_message_is_a_request_when_a_client_writes() -> None:
    assert parse_message(message_item(), NOW).is_request is True
