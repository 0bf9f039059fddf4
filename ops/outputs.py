"""Where a deployed stack is and what it says about itself.

``samconfig.toml`` names one environment per section (``dev``, ``prod``): its stack name,
region and ``parameter_overrides``. CloudFormation's DescribeStacks gives the stack's Outputs
(ApiUrl, StateTableName, ...) and the Parameters it was deployed with (the SSM *names* of the
token and the webhook secret, the 1MSG base URL and channel). The operator tools read both
from here, so nothing hard-codes a name.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from session_reply.errors import RetryableError
from session_reply.store import Store

ROOT = Path(__file__).resolve().parents[1]
SAMCONFIG = ROOT / "samconfig.toml"
DEFAULT_ENV = "dev"
# The template's defaults, used when neither samconfig.toml nor the stack says otherwise.
TEMPLATE_DEFAULTS = {
    "OneMsgApiUrl": "https://api.1msg.io",
    "OneMsgTokenParameter": "/session-reply/onemsg-token",
    "WebhookSecretParameter": "/session-reply/webhook-secret",
    "OneMsgAuthMode": "bearer",
}
LOOPBACK_PREFIXES = ("http://127.", "http://localhost", "http://[::1]")
DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class OpsError(Exception):
    """Something the operator can fix; the CLI prints the message (never a secret)."""


@dataclass(frozen=True, slots=True)
class DeployEnv:
    """One environment of samconfig.toml."""

    name: str
    stack_name: str
    region: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)

    def parameter(self, name: str) -> str | None:
        return self.parameters.get(name) or TEMPLATE_DEFAULTS.get(name)


@dataclass(frozen=True, slots=True)
class StackInfo:
    """DescribeStacks, reduced to what the tools use."""

    name: str
    region: str | None
    outputs: dict[str, str]
    parameters: dict[str, str]

    def output(self, key: str) -> str:
        value = self.outputs.get(key)
        if not value:
            raise OpsError(
                f"stack {self.name} has no output {key}: deploy the current template "
                "(make deploy) first"
            )
        return value

    def parameter(self, key: str) -> str | None:
        return self.parameters.get(key) or TEMPLATE_DEFAULTS.get(key)


def parse_overrides(value: str | list[str] | None) -> dict[str, str]:
    """``parameter_overrides`` as SAM reads it: ``'A=1 B="two words"'`` or ``["A=1", ...]``."""
    if not value:
        return {}
    words = shlex.split(value) if isinstance(value, str) else [str(v) for v in value]
    pairs: dict[str, str] = {}
    for word in words:
        key, sep, val = word.partition("=")
        if not sep or not key:
            raise OpsError(f"samconfig.toml: parameter override {word!r} is not KEY=VALUE")
        pairs[key] = val
    return pairs


def load_env(name: str, path: Path = SAMCONFIG) -> DeployEnv:
    """The named environment of samconfig.toml (its deploy and global parameters)."""
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OpsError(f"{path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise OpsError(f"{path} is not valid TOML: {exc}") from None
    section = config.get(name)
    if not isinstance(section, dict):
        known = ", ".join(k for k, v in config.items() if isinstance(v, dict)) or "none"
        raise OpsError(f"{path.name} has no environment {name!r} (environments: {known})")
    merged: dict[str, Any] = {}
    for command in ("global", "deploy"):  # deploy's own values win
        merged.update(((section.get(command) or {}).get("parameters")) or {})
    stack_name = merged.get("stack_name")
    if not stack_name:
        raise OpsError(f"{path.name}: [{name}.deploy.parameters] sets no stack_name")
    return DeployEnv(
        name=name,
        stack_name=str(stack_name),
        region=str(merged["region"]) if merged.get("region") else None,
        parameters=parse_overrides(merged.get("parameter_overrides")),
    )


def is_loopback(url: str | None) -> bool:
    return bool(url) and str(url).startswith(LOOPBACK_PREFIXES)


def aws_client(service: str, region: str | None = None, endpoint_url: str | None = None) -> Any:
    """A boto3 client; a loopback endpoint (the local stack's moto) gets dummy credentials."""
    kwargs: dict[str, Any] = {}
    if region:
        kwargs["region_name"] = region
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
        if is_loopback(endpoint_url) and boto3.session.Session().get_credentials() is None:
            kwargs.update(DUMMY_CREDENTIALS)
    return boto3.client(service, **kwargs)  # type: ignore[call-overload]


def aws_error(exc: Exception, doing: str) -> OpsError:
    """An AWS failure as a message an operator can act on."""
    if isinstance(exc, NoCredentialsError):
        return OpsError(f"{doing}: no AWS credentials (set AWS_PROFILE or run aws sso login)")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return OpsError(f"{doing}: {error.get('Code', 'error')}: {error.get('Message', '')}")
    if isinstance(exc, BotoCoreError):
        return OpsError(f"{doing}: {exc}")
    return OpsError(f"{doing}: {type(exc).__name__}")


def state_store(args: argparse.Namespace, client: Any = None) -> Store:
    """The state table the operator's arguments name: `--table`, else the local stack's name
    for it (with `--endpoint-url`), else the deployed stack's `StateTableName` output."""
    target = resolve_target(args)
    if args.table:
        table, region = args.table, target.region
    elif args.endpoint_url:
        # The local stack names its table as the template would on AWS for its stack.
        from devstack.template import ResolveContext, Template

        ctx = ResolveContext.for_template(Template.load(ROOT))
        table, region = ctx.physical_name("StateTable"), target.region or ctx.region
    else:
        table, region = target.stack().output("StateTableName"), target.region
    return Store(table, client or aws_client("dynamodb", region, args.endpoint_url))


class TableCommands:
    """What an operator CLI does on the state table, with its failures as messages: a
    store error (retried already) or an AWS error names what was being done and the table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _call(self, doing: str, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except RetryableError as exc:
            cause = exc.__cause__
            if isinstance(cause, ClientError | BotoCoreError):
                raise aws_error(cause, f"{doing} in table {self.store.table}") from None
            raise OpsError(f"{doing} in table {self.store.table}: {exc}") from None
        except (ClientError, BotoCoreError) as exc:
            raise aws_error(exc, f"{doing} in table {self.store.table}") from None


def describe_stack(stack_name: str, region: str | None = None, cfn: Any = None) -> StackInfo:
    """The stack's Outputs and Parameters (DescribeStacks)."""
    cfn = cfn or aws_client("cloudformation", region)
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", "")
        if "does not exist" in message:
            where = f" in {region}" if region else ""
            raise OpsError(
                f"stack {stack_name} not found{where}: deploy it first (make deploy)"
            ) from None
        raise aws_error(exc, f"DescribeStacks {stack_name}") from None
    except (BotoCoreError, NoCredentialsError) as exc:
        raise aws_error(exc, f"DescribeStacks {stack_name}") from None
    stack = stacks[0]
    return StackInfo(
        name=stack_name,
        region=region,
        outputs={o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs") or []},
        parameters={
            p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters") or []
        },
    )


# --------------------------------------------------------------------------- CLI plumbing


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    """--env / --stack-name / --region, shared by the tools."""
    group = parser.add_argument_group("which stack")
    group.add_argument(
        "--env",
        default=DEFAULT_ENV,
        help=f"samconfig.toml environment (default: {DEFAULT_ENV})",
    )
    group.add_argument("--stack-name", help="the CloudFormation stack (default: the env's)")
    group.add_argument("--region", help="AWS region (default: the env's, else your AWS config)")


@dataclass(frozen=True, slots=True)
class Target:
    """The stack a tool works on, resolved from the arguments and samconfig.toml."""

    stack_name: str
    region: str | None
    env: DeployEnv | None

    def stack(self, cfn: Any = None) -> StackInfo:
        return describe_stack(self.stack_name, self.region, cfn)


def resolve_target(args: argparse.Namespace, samconfig: Path = SAMCONFIG) -> Target:
    env: DeployEnv | None = None
    if not (args.stack_name and args.region):
        try:
            env = load_env(args.env, samconfig)
        except OpsError:
            if not args.stack_name:
                raise
    stack_name = args.stack_name or (env.stack_name if env else "")
    region = args.region or (env.region if env else None)
    return Target(stack_name=stack_name, region=region, env=env)


def run(main: Callable[[], int]) -> int:
    """Run a CLI body: an OpsError is one clear line on stderr and exit status 2."""
    try:
        return main()
    except OpsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
