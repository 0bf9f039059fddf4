"""What the handlers load when: the sender's send path after its first batch, the
webhook's and the lead API's own reading of the HTTP API event."""

from __future__ import annotations

import base64
import json
import random
import sys
import types
from typing import Any

import pytest
from session_reply.flows import context

from tests.conftest import (
    LambdaContext,
    Stack,
    hook_event,
    load_event,
    reset_caches,
    sqs_record,
)


class ShortOnTime(LambdaContext):
    def get_remaining_time_in_millis(self) -> int:
        return 1_000  # less than one record needs (3 x the 1MSG timeout + 5 s)


def burst_wait_batch(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("BURST_SECONDS", "30")
    reset_caches()
    stack.post_hook(hook_event("webhook/inbound.json"))
    return {"Records": [sqs_record(m, stack.aws.ctx.region) for m in stack.receive()]}


def test_send_path_is_loaded_after_the_batch_when_the_first_record_only_waits_for_the_burst(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a new auto-reply's first invocation, which only waits out the burst
    event = burst_wait_batch(stack, monkeypatch)
    context.prepare_send.cache_clear()
    # When the sender handles it
    result = stack.sender.lambda_handler(event, LambdaContext())
    # Then the record waits, nothing is sent, and the send path was loaded meanwhile
    assert len(result["batchItemFailures"]) == 1 and stack.sends() == []
    assert context.prepare_send.cache_info().currsize == 1


def test_send_path_is_not_loaded_after_the_batch_when_the_function_is_out_of_time(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = burst_wait_batch(stack, monkeypatch)
    context.prepare_send.cache_clear()
    stack.sender.lambda_handler(event, ShortOnTime())
    assert context.prepare_send.cache_info().currsize == 0


def test_base64_body_is_decoded_when_the_gateway_encoded_it(stack: Stack) -> None:
    # Given the gateway passed the body base64-encoded
    event = hook_event("webhook/inbound.json")
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    # When it is posted
    response = stack.post_hook(event)
    # Then the message is processed as if it came as text
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["outcomes"] == {"opened": 1}
    assert response["headers"]["Content-Type"] == "application/json"


def test_other_route_is_not_found_when_the_event_is_not_the_webhook_route(stack: Stack) -> None:
    event = hook_event("webhook/inbound.json")
    event["routeKey"] = "GET /hooks/1msg/{secret}"
    response = stack.post_hook(event)
    assert response["statusCode"] == 404
    assert stack.receive() == []


def test_random_is_reseeded_after_a_snapstart_restore_when_the_runtime_has_the_hooks(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Lambda's runtime hooks library (SnapStart)
    hooks: list[Any] = []
    runtime = types.ModuleType("snapshot_restore_py")
    runtime.register_after_restore = lambda func, *args: hooks.append(func)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", runtime)
    context._reseed_after_restore.cache_clear()
    # When a handler prepares its INIT
    context.prepare(events=False)
    # Then each restored environment reseeds the jitter's generator
    assert hooks == [random.seed]


def test_lead_api_route_adapter_answers_like_the_resolver_when_events_are_unusual(
    stack: Stack,
) -> None:
    # Given a lead whose request was answered (its auto-reply drained from the queue)
    stack.post_hook(hook_event("webhook/inbound.json"))
    for message in stack.receive():
        stack.sqs.delete_message(QueueUrl=stack.queue_url, ReceiptHandle=message["ReceiptHandle"])
    # A route the lead API does not have: 404, nothing queued
    event = load_event("manager_api/post_message.json")
    assert stack.call_api({**event, "routeKey": "DELETE /leads/{chatId}"})[0] == 404
    # A base64-encoded body is read as the text it encodes
    encoded = {
        **event,
        "body": base64.b64encode(event["body"].encode()).decode(),
        "isBase64Encoded": True,
    }
    status, body = stack.call_api(encoded)
    assert status == 202 and body["status"] == "queued"
    # A body that is not JSON, and a chat id that is not one: 400 with a message
    status, body = stack.call_api({**event, "body": "{not json"})
    assert (status, body["message"]) == (400, "the request body must be JSON")
    status, body = stack.call_api({**event, "pathParameters": {"chatId": "nobody"}})
    assert status == 400 and "chatId" in body["message"]
    # Only the one well-formed POST was queued
    assert [json.loads(m["Body"])["kind"] for m in stack.receive()] == ["manager_message"]
