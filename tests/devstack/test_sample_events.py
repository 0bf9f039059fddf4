"""Every file of events/ through its function's real handler, in the story of
devstack/sample_events.py, each answering the outcome the story documents.

`make sam-local` runs the same story through real `sam local invoke` (it needs Docker); this is
the same check where there is none, against moto in process and 1MSG mocked with respx.
"""

from __future__ import annotations

from devstack import sample_events
from devstack.sample_events import STORY
from tests.conftest import Stack
from tests.devstack.story import run_story


def test_every_event_answers_its_documented_outcome_when_run_in_story_order(stack: Stack) -> None:
    failures = [
        f"{step.event}: {problem}"
        for step, response, sends in run_story(stack)
        for problem in sample_events.problems(step, response, sends)
    ]
    assert failures == []


def test_story_runs_every_file_of_the_bank_once_when_listed() -> None:
    assert sorted(step.event for step in STORY) == sample_events.bank_files()


def test_events_are_moved_to_now_when_made_current() -> None:
    # Given the bank's first client message, written at BANK_TIME - 300
    event = sample_events.load("webhook/inbound.json")
    now = sample_events.BANK_TIME + 1_000_000

    # When it is made current
    current = sample_events.make_current(event, now)

    # Then the message and the request are as old as they were in the bank, relative to now
    body = sample_events._dig(current, "body.messages")
    assert body[0]["time"] == 1764500000 + 1_000_000
    assert current["requestContext"]["timeEpoch"] // 1000 == 1764500001 + 1_000_000
    assert current["headers"]["content-length"] == str(len(current["body"].encode()))


def _http_events() -> list[tuple[str, dict[str, object]]]:
    files = [f for f in sample_events.bank_files() if f.split("/")[0] in ("webhook", "manager_api")]
    return [(f, sample_events.load(f)) for f in files]


def test_http_events_carry_what_api_gateway_adds_when_read_from_the_bank() -> None:
    always = {"content-length", "host", "x-amzn-trace-id", "x-forwarded-for"}
    always |= {"x-forwarded-port", "x-forwarded-proto"}
    for name, event in _http_events():
        headers = event["headers"]
        assert isinstance(headers, dict)
        assert always <= set(headers), f"{name}: {sorted(always - set(headers))} missing"
        body = event.get("body") or ""
        assert isinstance(body, str)
        assert headers["content-length"] == str(len(body.encode())), name
        context = event["requestContext"]
        assert isinstance(context, dict)
        iam = str(event["routeKey"]).split(" ")[1].startswith("/leads")
        # IAM routes: API Gateway passes the signed caller; the webhook's route has no authorizer
        assert ("iam" in context.get("authorizer", {})) is iam, name
        if iam:
            assert set(context["authorizer"]["iam"]) >= {"accountId", "callerId", "userArn"}


def test_sqs_records_are_consistent_as_sqs_makes_them_when_read_from_the_bank() -> None:
    import hashlib
    import json

    sequence_numbers = []
    for name in [f for f in sample_events.bank_files() if f.startswith("sender/")]:
        for record in sample_events.load(name)["Records"]:
            body = record["body"]
            command = json.loads(body)
            attributes = record["attributes"]
            assert record["md5OfBody"] == hashlib.md5(body.encode()).hexdigest(), name  # noqa: S324
            assert attributes["MessageGroupId"] == command["chat_id"], name
            dedupe = hashlib.sha256(command["key"].encode()).hexdigest()
            assert attributes["MessageDeduplicationId"] == dedupe, name
            assert attributes["AWSTraceHeader"].startswith("Root=1-"), name  # Tracing: Active
            sequence_numbers.append(attributes["SequenceNumber"])
    assert len(set(sequence_numbers)) == len(sequence_numbers) > 1
