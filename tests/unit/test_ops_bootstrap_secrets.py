"""`python -m ops.bootstrap_secrets` and `python -m ops.preflight` against SSM in moto."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ops import bootstrap_secrets, preflight
from ops.outputs import DeployEnv, load_env

TOKEN = "eyJhbGciOiJIUzI1NiJ9.bootstrap-test-token.c2lnbmF0dXJl"
DEV = load_env("dev")
TOKEN_NAME = str(DEV.parameter("OneMsgTokenParameter"))
SECRET_NAME = str(DEV.parameter("WebhookSecretParameter"))


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def ssm(aws_env: None) -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("ssm", region_name="us-east-1")


def run(capsys: pytest.CaptureFixture[str], stdin: str, *argv: str) -> tuple[int, str]:
    code = bootstrap_secrets.main(["--env", "dev", *argv], stdin=io.StringIO(stdin))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def value(ssm: Any, name: str) -> str:
    return str(ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])


def test_both_parameters_created_as_secure_strings_when_missing(
    ssm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # When the token is piped in (never an argument)
    code, output = run(capsys, TOKEN + "\n")
    # Then the env's two parameters exist as SecureString: the token as given, the secret
    # generated (token_urlsafe(32): 43 URL-safe characters)
    assert code == 0, output
    for name in (TOKEN_NAME, SECRET_NAME):
        assert ssm.get_parameter(Name=name)["Parameter"]["Type"] == "SecureString"
    assert value(ssm, TOKEN_NAME) == TOKEN
    secret = value(ssm, SECRET_NAME)
    assert len(secret) == 43 and secret.replace("-", "").replace("_", "").isalnum()
    # and neither value is printed
    assert TOKEN not in output and secret not in output
    assert f"created  {TOKEN_NAME}" in output


def test_existing_parameters_kept_when_not_forced(
    ssm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, TOKEN)[0] == 0
    secret = value(ssm, SECRET_NAME)
    code, output = run(capsys, "another-token")
    assert code == 0
    assert value(ssm, TOKEN_NAME) == TOKEN and value(ssm, SECRET_NAME) == secret
    assert output.count("kept") == 2 and "--force" in output


def test_only_the_token_replaced_when_rotating_it(
    ssm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, TOKEN)[0] == 0
    secret = value(ssm, SECRET_NAME)
    code, output = run(capsys, "rotated-token", "--force", "--only", "token")
    assert code == 0, output
    assert value(ssm, TOKEN_NAME) == "rotated-token"
    assert value(ssm, SECRET_NAME) == secret
    assert "replaced" in output and "rotated-token" not in output


def test_connect_reminder_printed_when_the_secret_is_replaced(
    ssm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, TOKEN)[0] == 0
    secret = value(ssm, SECRET_NAME)
    code, output = run(capsys, "", "--force", "--only", "secret")
    assert code == 0, output
    assert value(ssm, SECRET_NAME) != secret
    assert "make connect-1msg" in output


def test_refused_when_no_token_is_given(ssm: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, output = run(capsys, "\n", "--only", "token")
    assert code == 2
    assert "no token given" in output


def test_token_read_from_a_hidden_prompt_when_stdin_is_a_terminal() -> None:
    prompts: list[str] = []

    def prompt(text: str) -> str:
        prompts.append(text)
        return f"  {TOKEN}  "

    assert bootstrap_secrets.read_token(Terminal(), prompt) == TOKEN
    assert prompts and "hidden" in prompts[0]


def test_token_has_no_command_line_option_when_parsing() -> None:
    options = {o for a in bootstrap_secrets.build_parser()._actions for o in a.option_strings}
    assert not any("token" in o and o != "--token-param" for o in options)


def test_preflight_names_what_is_missing_when_not_ready(ssm: Any) -> None:
    env = DeployEnv("dev", "s", "us-east-1", {"OneMsgChannelId": "REPLACE_WITH_CHANNEL_ID"})
    found = preflight.problems(env, ssm)
    assert any("OneMsgChannelId" in p for p in found)
    assert any("bootstrap-secrets" in p for p in found)
    ssm.put_parameter(Name=str(env.parameter("OneMsgTokenParameter")), Value="x", Type="String")
    ssm.put_parameter(Name=str(env.parameter("WebhookSecretParameter")), Value="x", Type="String")
    ready = DeployEnv("dev", "s", "us-east-1", {"OneMsgChannelId": "100001"})
    assert preflight.problems(ready, ssm) == []
