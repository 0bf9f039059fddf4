"""End to end against a deployed stack: a team's check that its deployment works.

    STACK_NAME=session-reply-dev AWS_PROFILE=... .venv/bin/python -m pytest -m e2e tests/e2e

It reads the stack's Outputs and Parameters, the webhook secret from SSM, posts a synthetic
client message to the public webhook (the secret is in the path; 1MSG signs nothing) and reads
the lead back through the IAM-authorised lead API, signed with SigV4. The message comes from
E2E_PHONE (default 12025550123, a fictional number: 1MSG will refuse the auto-reply, which the
test accepts; set your own test phone to see the reply arrive). Skipped without STACK_NAME or
AWS credentials. The secret is never printed.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest

pytestmark = pytest.mark.e2e

READ_TIMEOUT_SECONDS = 60
# Where the auto-reply may be once the sender has handled it (a fictional number is refused).
REPLY_SETTLED = {"ACCEPTED", "QUEUED", "FAILED", "SKIPPED"}


@dataclass(frozen=True)
class Deployed:
    api_url: str
    channel_id: str
    secret: str
    region: str
    credentials: Any

    def hook_url(self, secret: str | None = None) -> str:
        return f"{self.api_url}/hooks/1msg/{secret if secret is not None else self.secret}"


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployed]:
    stack_name = os.environ.get("STACK_NAME")
    if not stack_name:
        pytest.skip("set STACK_NAME to the deployed stack (e.g. session-reply-dev)")
    import boto3

    session = boto3.session.Session()
    credentials = session.get_credentials()
    if credentials is None:
        pytest.skip("no AWS credentials (set AWS_PROFILE or run aws sso login)")
    region = session.region_name or os.environ.get("AWS_REGION") or "us-east-1"
    from ops.connect_1msg import read_secret
    from ops.outputs import aws_client, describe_stack

    stack = describe_stack(stack_name, region)
    secret_param = stack.parameter("WebhookSecretParameter")
    channel = stack.parameter("OneMsgChannelId")
    assert secret_param and channel, "the stack has no WebhookSecretParameter/OneMsgChannelId"
    yield Deployed(
        api_url=stack.output("ApiUrl").rstrip("/"),
        channel_id=channel,
        secret=read_secret(aws_client("ssm", region), secret_param, "webhook secret"),
        region=region,
        credentials=credentials.get_frozen_credentials(),
    )


def signed_get(deployed: Deployed, path: str) -> httpx.Response:
    """GET with SigV4 (service execute-api), as the lead API's AWS_IAM authoriser wants."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    url = f"{deployed.api_url}{path}"
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(deployed.credentials, "execute-api", deployed.region).add_auth(request)
    return httpx.get(url, headers=dict(request.headers.items()), timeout=15)


def client_message(deployed: Deployed, phone: str, message_id: str) -> dict[str, Any]:
    return {
        "instanceId": deployed.channel_id,
        "messages": [
            {
                "id": message_id,
                "body": "Hello! How much is delivery? (session-reply e2e check)",
                "type": "chat",
                "senderName": "E2E Check",
                "chatName": "E2E Check",
                "chatId": f"{phone}@c.us",
                "author": f"{phone}@c.us",
                "fromMe": False,
                "self": 0,
                "time": int(time.time()),
            }
        ],
    }


def test_lead_recorded_and_reply_attempted_when_a_client_writes(deployed: Deployed) -> None:
    # Given a client message for the test number
    phone = os.environ.get("E2E_PHONE", "12025550123")
    chat_id = f"{phone}@c.us"
    message_id = f"wamid.E2E{uuid.uuid4().hex.upper()}"
    # When 1MSG (played by this test) posts it to the webhook
    response = httpx.post(
        deployed.hook_url(), json=client_message(deployed, phone, message_id), timeout=15
    )
    assert response.status_code == 200, response.text
    # Then the lead API shows the lead with that message, and the auto-reply is settled
    deadline = time.monotonic() + READ_TIMEOUT_SECONDS
    lead: dict[str, Any] = {}
    messages: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        read = signed_get(deployed, f"/leads/{quote(chat_id, safe='')}")
        assert read.status_code in (200, 404), read.text
        if read.status_code == 200:
            lead, messages = read.json()["lead"], read.json()["messages"]
            replies = [m for m in messages if m.get("direction") == "out"]
            if replies and replies[-1].get("state") in REPLY_SETTLED:
                break
        time.sleep(2)
    assert lead, f"no lead for the test chat after {READ_TIMEOUT_SECONDS} s"
    assert any(m.get("provider_id") == message_id or m.get("id") == message_id for m in messages)
    replies = [m for m in messages if m.get("direction") == "out"]
    assert replies, "no auto-reply was attempted"
    assert replies[-1].get("state") in REPLY_SETTLED, replies[-1].get("state")


def test_webhook_answers_401_when_the_secret_is_wrong(deployed: Deployed) -> None:
    response = httpx.post(
        deployed.hook_url("not-the-secret"),
        json={"instanceId": deployed.channel_id, "messages": []},
        timeout=15,
    )
    assert response.status_code == 401


def test_lead_api_refuses_an_unsigned_request(deployed: Deployed) -> None:
    response = httpx.get(f"{deployed.api_url}/leads/{quote('12025550123@c.us', safe='')}")
    assert response.status_code == 403
