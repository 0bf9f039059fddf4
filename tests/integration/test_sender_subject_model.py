"""SubjectExtractor=bedrock through the real handlers: the sender asks Bedrock's Converse
API (the real bedrock-runtime client, answered by botocore's Stubber) and the reply names
the model's subject; when Bedrock fails, or never answers, the rules name it and the
fallback is counted. Nothing here reaches Bedrock."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import ANY, Stubber
from session_reply.bedrock import TIMEOUT, BedrockModel, ModelUnavailableError, bedrock_client
from session_reply.flows import context
from session_reply.store import Store, TurnTaken

from tests.conftest import LambdaContext, Stack, hook_event, reset_caches, sqs_record

MODEL_ID = "amazon.nova-micro-v1:0"
ENT = (
    "Good afternoon. My son is 7 and has had an ear infection twice this winter, the "
    "second time with a high fever. Our GP suggested a specialist: we'd like a paediatric "
    "ENT consultation, ideally on a Saturday."
)


@pytest.fixture
def bedrock_mode(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The stack with SUBJECT_EXTRACTOR=bedrock; yields the sender's bedrock-runtime client."""
    monkeypatch.setenv("SUBJECT_EXTRACTOR", "bedrock")
    monkeypatch.setenv("BEDROCK_MODEL_ID", MODEL_ID)
    reset_caches()
    bedrock_client.cache_clear()
    yield bedrock_client()
    bedrock_client.cache_clear()


def converse_request(text: str) -> dict[str, Any]:
    return {
        "modelId": MODEL_ID,
        "system": ANY,
        "messages": [{"role": "user", "content": [{"text": text}]}],
        "inferenceConfig": ANY,
    }


def ent_answer() -> dict[str, Any]:
    """Converse's answer naming the ENT request's subject."""
    answer = '{"subject": "paediatric ENT consultation", "language": "en", "entry": null}'
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 380, "outputTokens": 22, "totalTokens": 402},
        "metrics": {"latencyMs": 410},
    }


def test_reply_names_the_models_subject_when_the_extractor_is_bedrock(
    stack: Stack, bedrock_mode: Any
) -> None:
    # Given Bedrock names the subject of a long message with its context first
    response = ent_answer()
    with Stubber(bedrock_mode) as stub:
        stub.add_response("converse", response, converse_request(ENT))
        # When the client writes and the sender answers
        stack.post_hook(hook_event("webhook/inbound.json", body=ENT))
        stack.drain()
        stub.assert_no_pending_responses()
    # Then the reply names it, and the lead says who named it
    (send,) = stack.sends()
    assert "«paediatric ENT consultation»" in send["body"]
    lead = stack.lead()["lead"]
    assert (lead["topic"], lead["topic_rule"]) == ("paediatric ENT consultation", "model")
    assert (lead["language"], lead["language_source"]) == ("en", "model")


def test_model_is_asked_once_when_the_claim_loses_the_teams_turn_and_chooses_again(
    stack: Stack, bedrock_mode: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given another request takes the team's turn just before this send's first claim
    real_claim = Store.claim_send
    lost: list[str] = []

    def claim_send(self: Store, *args: Any, **kwargs: Any) -> Any:
        if not lost:
            lost.append("turn")
            raise TurnTaken("everyone", 1)
        return real_claim(self, *args, **kwargs)

    monkeypatch.setattr(Store, "claim_send", claim_send)
    response = ent_answer()
    with Stubber(bedrock_mode) as stub:
        # (one answer only: a second question would find none and fall back to the rules)
        stub.add_response("converse", response, converse_request(ENT))
        stack.post_hook(hook_event("webhook/inbound.json", body=ENT))
        stack.drain()
        stub.assert_no_pending_responses()
    # Then the claim chose again with the model's answer, asked once
    assert lost == ["turn"]
    (send,) = stack.sends()
    assert "«paediatric ENT consultation»" in send["body"]
    assert stack.lead()["lead"]["topic_rule"] == "model"


def test_reply_names_the_rules_subject_and_counts_the_fallback_when_bedrock_fails(
    stack: Stack, bedrock_mode: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given Bedrock throttles the call
    with Stubber(bedrock_mode) as stub:
        stub.add_client_error(
            "converse", "ThrottlingException", "Too many requests", 429,
            expected_params=converse_request("Hi! How much is delivery to Almaty?"),
        )  # fmt: skip
        stack.post_hook(hook_event("webhook/inbound.json"))
        stack.drain()
        stub.assert_no_pending_responses()
    # Then the reply goes out as in rules mode, and the fallback is counted with its reason
    (send,) = stack.sends()
    assert "«delivery to Almaty»" in send["body"]
    assert stack.lead()["lead"]["topic_rule"] == "excerpt"
    metrics = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("{") and '"SubjectModelFallback"' in line
    ]
    assert [m["reason"] for m in metrics] == ["throttled"]


@pytest.fixture
def silent_endpoint(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """A loopback 'Bedrock' that takes every request and never answers; yields what came."""
    server = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []
    done = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        conns = []
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conns.append(conn)
            received.append(conn.recv(65536))
        for conn in conns:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.getsockname()[1]}")
    bedrock_client.cache_clear()
    yield received
    done.set()
    thread.join(timeout=5)
    server.close()
    bedrock_client.cache_clear()


def test_bedrock_call_ends_with_a_timeout_after_one_request_when_bedrock_never_answers(
    silent_endpoint: list[bytes],
) -> None:
    # Given a Bedrock endpoint that never answers
    model = BedrockModel(MODEL_ID)
    # When the sender's client calls it
    with pytest.raises(ModelUnavailableError) as failed:
        model.converse("Say what the request is about.", ENT, 100)
    # Then its read timeout ended the call, and it was not retried
    assert failed.value.reason == TIMEOUT
    assert len(silent_endpoint) == 1
    assert silent_endpoint[0].startswith(b"POST /model/amazon.nova-micro-v1%3A0/converse ")


@pytest.mark.parametrize(("extractor", "built"), [("rules", 0), ("bedrock", 1)])
def test_bedrock_client_is_built_while_the_first_record_waits_only_in_bedrock_mode(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, extractor: str, built: int
) -> None:
    # Given a new auto-reply whose first invocation only waits out the burst
    monkeypatch.setenv("SUBJECT_EXTRACTOR", extractor)
    monkeypatch.setenv("BURST_SECONDS", "30")
    reset_caches()
    bedrock_client.cache_clear()
    context.prepare_send.cache_clear()
    stack.post_hook(hook_event("webhook/inbound.json"))
    event = {"Records": [sqs_record(m, stack.aws.ctx.region) for m in stack.receive()]}
    # When the sender handles it
    result = stack.sender.lambda_handler(event, LambdaContext())
    # Then the record waits, and Bedrock's client exists only in bedrock mode
    assert len(result["batchItemFailures"]) == 1 and stack.sends() == []
    assert bedrock_client.cache_info().currsize == built
    bedrock_client.cache_clear()
