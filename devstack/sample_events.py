"""The sample events of events/ as one story, each with the outcome it documents.

`STORY` runs every file of events/ once, in an order where each makes sense (the client writes,
the reply goes out, its echo and statuses come back, the manager answers, the CRM reads the
lead, the poller runs). The same table is run two ways: by the tests, through the real handlers
in process (`tests/devstack/test_sample_events.py`), and by `make sam-local`, through real
`sam local invoke` in Lambda containers (`devstack/sam_local.py`). Both check each outcome; the
exit code of `sam local invoke` says nothing (it is 0 on timeouts and import errors).

The bank's times are those of one moment (`BANK_TIME`); `make_current` moves every time in an
event by the same amount so that the story happens now: a year-old message would open no
24-hour window, and a year-old auto-reply would be skipped as stale.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"
# The client's first message in the bank was written at 1764500000; the bank was captured five
# minutes later (the sender's record is then past the burst wait and far from stale).
BANK_TIME = 1764500300
# The provider id the bank's reply has (acks and the echo refer to it); a run substitutes the
# id its 1MSG really returned.
BANK_REPLY_ID = "wamid.HBgLNzcwMTEyMzQ1NjcVAgARGBJSRVBMWTAwMDAwMDAwMDAwMQA"
CLF_TIME = "%d/%b/%Y:%H:%M:%S %z"
_MISSING = "<missing>"  # what `_dig` finds where a response has nothing


@dataclass(frozen=True, slots=True)
class Step:
    """Run `event` (a path under events/) through `function`; `expect` is what it must answer.

    `expect` maps a dotted path in the response (`statusCode`, `body.outcomes.opened`,
    `body.messages.0.author`; `body` is parsed as JSON) to the value it must have (`_MISSING`:
    none there). `sends` is how many 1MSG sends the step makes.
    """

    function: str
    event: str
    expect: Mapping[str, Any] = field(default_factory=dict)
    sends: int = 0
    note: str = ""


WEBHOOK, SENDER, LEAD_API, POLLER = (
    "WebhookFunction",
    "SenderFunction",
    "ManagerApiFunction",
    "StatusPollerFunction",
)


def _hook(event: str, note: str, **expect: Any) -> Step:
    return Step(WEBHOOK, f"webhook/{event}.json", {"statusCode": 200, **expect}, note=note)


STORY: tuple[Step, ...] = (
    Step(WEBHOOK, "webhook/bad_secret.json", {"statusCode": 401}, note="nothing stored"),
    _hook("inbound", "a new request: recorded, reply queued", **{"body.outcomes": {"opened": 1}}),
    Step(SENDER, "sender/auto_reply.json", {"batchItemFailures": []}, sends=1, note="answered"),
    _hook(
        "echo_of_reply", "our reply's echo: matched, not answered", **{"body.outcomes": {"echo": 1}}
    ),
    _hook("ack_sent", "status applied", **{"body.outcomes": {"status_applied": 1}}),
    _hook("ack_delivered", "status applied", **{"body.outcomes": {"status_applied": 1}}),
    _hook(
        "hooks_status",
        "hooks[] form, same status again",
        **{"body.outcomes": {"status_duplicate": 1}},
    ),
    _hook("ack_read", "status applied", **{"body.outcomes": {"status_applied": 1}}),
    _hook(
        "ack_viewed_legacy",
        "legacy viewed = read, again",
        **{"body.outcomes": {"status_duplicate": 1}},
    ),
    _hook("ack_out_of_order", "nothing moves back", **{"body.outcomes": {"status_duplicate": 3}}),
    _hook(
        "ack_failed", "failed is kept with its reason", **{"body.outcomes": {"status_applied": 1}}
    ),
    _hook(
        "inbound_followup",
        "same request: recorded, not answered",
        **{"body.outcomes": {"follow_up": 1}},
    ),
    _hook("inbound_burst", "same request", **{"body.outcomes": {"follow_up": 3}}),
    _hook("inbound_media", "same request", **{"body.outcomes": {"follow_up": 1}}),
    _hook("inbound_string_time", "same request", **{"body.outcomes": {"follow_up": 1}}),
    _hook(
        "reaction",
        "a 👍 on our reply: recorded, not a request",
        **{"body.outcomes": {"not_a_request": 1}},
    ),
    _hook(
        "request_welcome",
        "a new client opens the chat: recorded, not answered",
        **{"body.outcomes": {"not_a_request": 1}},
    ),
    _hook(
        "call_permission_reply",
        "the client allows calls: recorded, not a request",
        **{"body.outcomes": {"not_a_request": 1}},
    ),
    _hook(
        "broadcast",
        "a status post: recorded, never answered",
        **{"body.outcomes": {"not_a_request": 1}},
    ),
    _hook(
        "manager_typed_in_app",
        "the first human response",
        **{"body.outcomes": {"manager_message": 1}},
    ),
    _hook(
        "inbound_bom",
        "a body with a byte order mark is JSON: another client's request",
        **{"body.outcomes": {"opened": 1}},
    ),
    _hook("calls", "kept for inspection", **{"body.kept": "no messages, ack or hooks"}),
    _hook("not_json", "kept for inspection", **{"body.kept": "body is not JSON"}),
    _hook(
        "wrong_instance", "kept for inspection", **{"body.kept": "instanceId is not this channel"}
    ),
    Step(
        LEAD_API,
        "manager_api/get_lead.json",
        {
            "statusCode": 200,
            "body.lead.phone": "77011234567",
            "body.lead.topic": "delivery to Almaty",
            "body.lead.category": "delivery",
            "body.lead.language": "en",
        },
        note="the CRM reads",
    ),
    Step(
        LEAD_API,
        "manager_api/get_lead_page.json",
        {
            "statusCode": 200,
            # In the same second as the first message, after it (by id); then the reply.
            "body.messages.0.id": "wamid.HBgLNzcwMTEyMzQ1NjcVAgASGBQzQUIxQ0QyRUYzMDQ1STRA",
            "body.messages.1.author": "auto",
            "body.messages.2": _MISSING,
        },
        note="a page: the 2 messages after the client's first one (limit, cursor)",
    ),
    Step(LEAD_API, "manager_api/post_message.json", {"statusCode": 202}, note="queued"),
    Step(LEAD_API, "manager_api/post_message_empty.json", {"statusCode": 400}),
    Step(LEAD_API, "manager_api/post_message_unknown_lead.json", {"statusCode": 404}),
    Step(
        SENDER,
        "sender/manager_message.json",
        {"batchItemFailures": []},
        sends=1,
        note="the manager's text goes out",
    ),
    Step(POLLER, "status_poller/schedule.json", {"checked": 0}, note="nothing is stuck"),
)


def load(relative: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS_DIR / relative).read_text(encoding="utf-8"))
    return data


def bank_files() -> list[str]:
    return sorted(str(p.relative_to(EVENTS_DIR)) for p in EVENTS_DIR.glob("*/*.json"))


def make_current(
    event: dict[str, Any], now: float, replace: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A copy of `event` whose times are moved by `now - BANK_TIME`, with strings in
    `replace` swapped (a provider id), and its derived fields (content-length, md5OfBody)
    recomputed as API Gateway and SQS would."""
    shift = now - BANK_TIME
    out = copy.deepcopy(event)
    if "Records" in out:
        for record in out["Records"]:
            _shift_record(record, shift, replace or {})
    elif "requestContext" in out:
        _shift_request(out, shift, replace or {})
    elif out.get("detail-type") == "Scheduled Event":
        at = datetime.fromisoformat(out["time"].replace("Z", "+00:00")).timestamp() + shift
        out["time"] = datetime.fromtimestamp(int(at), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


def _swap(text: str, replace: Mapping[str, str]) -> str:
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


def _shift_request(event: dict[str, Any], shift: float, replace: Mapping[str, str]) -> None:
    context = event["requestContext"]
    epoch_ms = int(context["timeEpoch"] + shift * 1000)
    context["timeEpoch"] = epoch_ms
    context["time"] = datetime.fromtimestamp(epoch_ms // 1000, UTC).strftime(CLF_TIME)
    query = event.get("queryStringParameters") or {}
    if query.get("cursor"):
        query["cursor"] = _shift_cursor(query["cursor"], shift)
        event["rawQueryString"] = urlencode(query)
    body = event.get("body")
    if not isinstance(body, str) or event.get("isBase64Encoded"):
        return
    bom = "\ufeff" if body.startswith("\ufeff") else ""
    try:
        data = json.loads(body[len(bom) :])
    except ValueError:
        return  # a body that is not JSON stays as it is (that is its point)
    if isinstance(data, dict):
        for item in data.get("messages", []):
            if isinstance(item, dict) and "time" in item:
                moved = int(float(item["time"]) + shift)
                item["time"] = str(moved) if isinstance(item["time"], str) else moved
        for item in data.get("hooks", []):
            if isinstance(item, dict) and isinstance(item.get("timestamp"), int | float):
                item["timestamp"] = int(item["timestamp"] + shift)
    text = bom + _swap(json.dumps(data, ensure_ascii=False), replace)
    event["body"] = text
    event.setdefault("headers", {})["content-length"] = str(len(text.encode()))


def _shift_cursor(cursor: str, shift: float) -> str:
    """The lead API's cursor is a place in a chat's timeline (`<time>#<SK>`, base64url):
    its times move with the messages they point at."""
    position = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    at, sk = position.split("#", 1)
    moved = int(float(at) + shift)
    sk = re.sub(r"^(MSG|SESSION)#\d{10}#", lambda m: f"{m.group(1)}#{moved:010d}#", sk)
    return base64.urlsafe_b64encode(f"{moved:014.3f}#{sk}".encode()).decode().rstrip("=")


def _shift_record(record: dict[str, Any], shift: float, replace: Mapping[str, str]) -> None:
    attributes = record.get("attributes", {})
    for name in ("SentTimestamp", "ApproximateFirstReceiveTimestamp"):
        if name in attributes:
            attributes[name] = str(int(int(attributes[name]) + shift * 1000))
    command = json.loads(record["body"])
    if isinstance(command.get("requested_at"), int | float):
        command["requested_at"] = round(command["requested_at"] + shift, 3)
    body = _swap(json.dumps(command, separators=(",", ":"), ensure_ascii=False), replace)
    record["body"] = body
    record["md5OfBody"] = hashlib.md5(body.encode()).hexdigest()  # noqa: S324 - SQS's checksum


def problems(step: Step, response: Any, sends: int) -> list[str]:
    """What in `response` (and the count of 1MSG sends it made) differs from `step.expect`."""
    found: list[str] = []
    if not isinstance(response, dict):
        return [f"answered {response!r}, not an object"]
    if "errorType" in response:
        return [f"failed: {response.get('errorType')}: {response.get('errorMessage')}"]
    for path, expected in step.expect.items():
        actual = _dig(response, path)
        if actual != expected:
            found.append(f"{path} is {actual!r}, expected {expected!r}")
    if sends != step.sends:
        found.append(f"made {sends} 1MSG sends, expected {step.sends}")
    return found


def _dig(value: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(value, str) and part and value[:1] in "{[":
            try:
                value = json.loads(value)
            except ValueError:
                return _MISSING
        if isinstance(value, list) and part.isdigit():
            value = value[int(part)] if int(part) < len(value) else _MISSING
            continue
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value
