"""`python -m ops.connect_1msg` against the 1MSG simulator's real webhook/settings API.

SSM (and CloudFormation, for the stack's outputs) are moto in process; 1MSG is the simulator on a
loopback port. Nothing leaves the machine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws

from devstack.simulator import OneMsgSimulator
from ops import connect_1msg
from ops.connect_1msg import MASK, mask_url, plan_connection

CHANNEL = "100001"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.sim-token-for-connect-tests.c2lnbmF0dXJl"
SECRET = "Zq3x_connect-test-secret-9b8f7e6d5c4b3a2f1e0d"
OLD_SECRET = "old-secret-before-rotation-1234567890abcdef"
TOKEN_PARAM = "/session-reply/test/onemsg-token"
SECRET_PARAM = "/session-reply/test/webhook-secret"
API_URL = "https://abc123.execute-api.us-east-1.amazonaws.com"
OURS = f"{API_URL}/hooks/1msg/{SECRET}"
OTHERS = ["https://crm.example.com/1msg/hook", "https://bot.example.org/in"]


@pytest.fixture
def sim() -> Iterator[OneMsgSimulator]:
    with OneMsgSimulator(CHANNEL, TOKEN) as simulator:
        yield simulator


@pytest.fixture
def ssm(aws_env: None) -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("ssm", region_name="us-east-1")
        client.put_parameter(Name=TOKEN_PARAM, Value=TOKEN, Type="SecureString")
        client.put_parameter(Name=SECRET_PARAM, Value=SECRET, Type="SecureString")
        yield client


def set_webhooks(sim: OneMsgSimulator, urls: list[str]) -> None:
    response = httpx.post(
        f"{sim.url}/{CHANNEL}/webhook",
        json={"webhookUrl": urls},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 200, response.text


def writes(sim: OneMsgSimulator) -> list[dict[str, Any]]:
    return [c for c in sim.calls() if c["http"] == "POST"]


def connect(
    sim: OneMsgSimulator, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str]:
    code = connect_1msg.main(
        [
            "--region",
            "us-east-1",
            "--stack-name",
            "unused",
            "--api-url",
            API_URL,
            "--onemsg-url",
            sim.url,
            "--channel",
            CHANNEL,
            "--token-param",
            TOKEN_PARAM,
            "--secret-param",
            SECRET_PARAM,
            *extra,
        ]
    )
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def assert_no_secret(output: str) -> None:
    assert SECRET not in output
    assert TOKEN not in output
    assert OLD_SECRET not in output


# --------------------------------------------------------------------------- behaviour


def test_our_url_is_added_and_the_others_kept_when_the_channel_has_other_webhooks(
    sim: OneMsgSimulator, ssm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a channel that already posts to two other systems
    set_webhooks(sim, OTHERS)
    # When we connect
    code, output = connect(sim, capsys)
    # Then the list is the others, in their order, plus ours; statuses are on
    assert code == 0, output
    assert sim.webhooks() == [*OTHERS, OURS]
    assert sim.settings()["ackNotificationsOn"] is True
    assert sim.settings()["guaranteedHooks"] is True  # on by default: 1MSG retries a 5xx
    # and what changed is printed with the secret masked
    assert f"+ {API_URL}/hooks/1msg/{MASK}" in output
    assert "ackNotificationsOn: false -> true" in output
    assert "Done. Read back" in output
    assert_no_secret(output)


def test_the_auth_is_a_bearer_header_when_connecting(
    sim: OneMsgSimulator, ssm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # When we connect; Then every call authenticated with the Bearer header, never ?token=
    code, output = connect(sim, capsys)
    assert code == 0, output
    assert sim.calls()
    assert all(c["auth"] == "bearer" and "token" not in c["query"] for c in sim.calls())


def test_nothing_to_change_when_run_a_second_time(
    sim: OneMsgSimulator, ssm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a channel we connected once
    set_webhooks(sim, OTHERS)
    assert connect(sim, capsys)[0] == 0
    before = len(writes(sim))
    # When we connect again
    code, output = connect(sim, capsys)
    # Then nothing is written and it says so
    assert code == 0, output
    assert "Nothing to change" in output
    assert len(writes(sim)) == before
    assert sim.webhooks() == [*OTHERS, OURS]


def test_nothing_is_written_when_it_is_a_dry_run(
    sim: OneMsgSimulator, ssm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a channel with other webhooks and statuses off
    set_webhooks(sim, OTHERS)
    before = len(writes(sim))
    # When we connect with --dry-run
    code, output = connect(sim, capsys, "--dry-run")
    # Then the plan is shown and nothing is written
    assert code == 0, output
    assert len(writes(sim)) == before
    assert sim.webhooks() == OTHERS
    assert sim.settings()["ackNotificationsOn"] is False
    assert "+ " in output and "Dry run: nothing written." in output
    assert_no_secret(output)


def test_refused_with_nothing_changed_when_a_sixth_url_would_be_needed(
    sim: OneMsgSimulator, ssm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a channel that already has 5 other webhook URLs
    full = [f"https://system{i}.example.com/hook" for i in range(5)]
    set_webhooks(sim, full)
    before = len(writes(sim))
    # When we connect
    code, output = connect(sim, capsys)
    # Then it refuses clearly, lists the others, and writes nothing
    assert code == 2
    assert "at most 5" in output and "nothing was changed" in output
    assert "https://system0.example.com/hook" in output
    assert len(writes(sim)) == before
    assert sim.webhooks() == full
    assert sim.settings()["ackNotificationsOn"] is False


def test_our_url_fits_when_four_others_are_registered(
    sim: OneMsgSimulator, ssm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given 4 other URLs; When we connect; Then ours is the 5th
    others = [f"https://system{i}.example.com/hook" for i in range(4)]
    set_webhooks(sim, others)
    code, output = connect(sim, capsys)
    assert code == 0, output
    assert sim.webhooks() == [*others, OURS]


def test_guaranteed_hooks_turned_on_when_asked(
    sim: OneMsgSimulator, ssm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # When we connect with --guaranteed-hooks; Then both settings are on
    code, output = connect(sim, capsys, "--guaranteed-hooks")
    assert code == 0, output
    assert sim.settings() == {**sim.settings(), "ackNotificationsOn": True, "guaranteedHooks": True}
    assert "guaranteedHooks: false -> true" in output


def test_guaranteed_hooks_left_as_they_were_when_opted_out(
    sim: OneMsgSimulator, ssm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # When we connect with --no-guaranteed-hooks; Then only statuses are turned on
    code, output = connect(sim, capsys, "--no-guaranteed-hooks")
    assert code == 0, output
    assert sim.settings()["ackNotificationsOn"] is True
    assert sim.settings()["guaranteedHooks"] is False
    assert "guaranteedHooks: false (unchanged)" in output


def test_settings_alone_are_written_when_our_url_is_already_there(
    sim: OneMsgSimulator, ssm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given our URL registered but statuses off (e.g. turned off by hand)
    set_webhooks(sim, [OURS])
    sim.reset()
    # When we connect
    code, output = connect(sim, capsys)
    # Then only the settings are posted
    assert code == 0, output
    posted = [c["method"] for c in writes(sim)]
    assert posted == ["settings"]
    assert sim.settings()["ackNotificationsOn"] is True


def test_old_url_replaced_in_place_when_the_webhook_secret_was_rotated(
    sim: OneMsgSimulator, ssm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the channel posts to this stack's URL with the secret from before a rotation
    old = f"{API_URL}/hooks/1msg/{OLD_SECRET}"
    set_webhooks(sim, [OTHERS[0], old, OTHERS[1]])
    # When we connect with the new secret
    code, output = connect(sim, capsys)
    # Then the old URL is replaced where it was; the others stay
    assert code == 0, output
    assert sim.webhooks() == [OTHERS[0], OURS, OTHERS[1]]
    assert "older secret" in output
    assert_no_secret(output)


def test_clear_error_and_no_secret_when_1msg_refuses_the_token(
    sim: OneMsgSimulator, ssm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a wrong token in SSM
    ssm.put_parameter(Name=TOKEN_PARAM, Value="wrong-token", Type="SecureString", Overwrite=True)
    # When we connect; Then it stops with a clear message
    code, output = connect(sim, capsys)
    assert code == 2
    assert "refused the token" in output
    assert "wrong-token" not in output
    assert sim.webhooks() == []


def test_clear_error_when_the_secret_parameter_is_missing(
    sim: OneMsgSimulator, ssm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given no webhook secret in SSM
    ssm.delete_parameter(Name=SECRET_PARAM)
    # When we connect; Then it says which parameter and how to create it
    code, output = connect(sim, capsys)
    assert code == 2
    assert SECRET_PARAM in output and "bootstrap-secrets" in output


def test_everything_comes_from_the_stack_when_only_the_env_is_given(
    sim: OneMsgSimulator, ssm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a deployed stack (the dev env of samconfig.toml) whose outputs and parameters say
    # where the API, 1MSG, the channel and the two secrets are
    template = {
        "Parameters": {
            key: {"Type": "String"}
            for key in (
                "OneMsgApiUrl",
                "OneMsgChannelId",
                "OneMsgTokenParameter",
                "WebhookSecretParameter",
            )
        },
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"ApiUrl": {"Value": API_URL}},
    }
    values = {
        "OneMsgApiUrl": sim.url,
        "OneMsgChannelId": CHANNEL,
        "OneMsgTokenParameter": TOKEN_PARAM,
        "WebhookSecretParameter": SECRET_PARAM,
    }
    boto3.client("cloudformation", region_name="us-east-1").create_stack(
        StackName="session-reply-dev",
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
    )
    # When we connect with nothing but the env
    code = connect_1msg.main(["--env", "dev"])
    output = "".join(capsys.readouterr())
    # Then it found everything and registered our URL
    assert code == 0, output
    assert sim.webhooks() == [OURS]
    assert_no_secret(output)


def test_clear_error_when_the_stack_does_not_exist(
    ssm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code = connect_1msg.main(["--stack-name", "nope", "--region", "us-east-1"])
    assert code == 2
    assert "stack nope not found" in capsys.readouterr().err


# --------------------------------------------------------------------------- pure parts


def test_secrets_masked_when_a_url_is_shown() -> None:
    assert mask_url(OURS) == f"{API_URL}/hooks/1msg/{MASK}"
    assert mask_url("https://u:pw@crm.example.com/h?token=abc&x=1") == (
        f"https://{MASK}@crm.example.com/h?token={MASK}&x={MASK}"
    )
    assert mask_url("https://bot.example.org/in/short", [".org"]) == (
        f"https://bot.example{MASK}/in/short"
    )


def test_duplicates_of_our_url_collapse_when_planning() -> None:
    plan = plan_connection(
        [OURS, OTHERS[0], OURS + "/"],
        {"ackNotificationsOn": 1, "guaranteedHooks": True},
        API_URL,
        SECRET,
    )
    assert plan.after == [OURS, OTHERS[0]]
    assert plan.added == [] and plan.settings_changes == {}
