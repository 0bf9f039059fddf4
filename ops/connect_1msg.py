"""Register the deployed webhook with the 1MSG channel, keeping the channel's other URLs.

    python -m ops.connect_1msg [--env dev] [--dry-run] [--no-guaranteed-hooks]

1MSG keeps up to 5 webhook URLs per channel and ``POST webhook`` replaces the whole list, so
this reads the list first (``GET webhook``), merges ``<ApiUrl>/hooks/1msg/<secret>`` into it
(replacing a URL of this stack with an older secret, keeping every other one), writes it back,
turns on ``ackNotificationsOn`` (statuses) and ``guaranteedHooks`` (1MSG retries a webhook
until it gets a 2xx; ``--no-guaranteed-hooks`` leaves it as it is) with ``POST settings``,
reads both back and prints what changed. A second run changes nothing.

The stack's ApiUrl output and its parameters (1MSG base URL, channel, the SSM names of the
token and the webhook secret) come from CloudFormation; ``--api-url``, ``--onemsg-url``,
``--channel``, ``--token-param`` and ``--secret-param`` replace them. The token and the
secret are read from SSM and never printed: URLs are shown with the secret masked.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from botocore.exceptions import BotoCoreError, ClientError

from ops.outputs import (
    OpsError,
    StackInfo,
    add_stack_arguments,
    aws_client,
    aws_error,
    resolve_target,
    run,
)

MAX_WEBHOOKS = 5  # 1MSG keeps at most 5 URLs per channel
HOOK_PATH = "/hooks/1msg/"
MASK = "****"
TIMEOUT_SECONDS = 15.0
_TRUE = (True, 1, "1", "true", "True", "on")
_LONG_SEGMENT = 16  # path segments this long are shown masked: they may be someone's secret


# --------------------------------------------------------------------------- masking


def mask_url(url: str, secrets: Iterable[str] = ()) -> str:
    """The URL with every known secret, query value, password and long path segment masked."""
    for secret in secrets:
        if secret:
            url = url.replace(secret, MASK)
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    segments = [
        MASK if len(segment) >= _LONG_SEGMENT and segment != MASK else segment
        for segment in parts.path.split("/")
    ]
    query = "&".join(
        f"{pair.partition('=')[0]}={MASK}" if "=" in pair else pair
        for pair in parts.query.split("&")
        if pair
    )
    return urlunsplit((parts.scheme, netloc, "/".join(segments), query, ""))


def mask_text(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return re.sub(r"https?://\S+", lambda m: mask_url(m.group(0)), text)


# --------------------------------------------------------------------------- 1MSG API


class OneMsgAdmin:
    """The channel's webhook and settings methods (``/{channelId}/{method}``)."""

    def __init__(
        self,
        base_url: str,
        channel_id: str,
        token: str,
        *,
        auth: str = "bearer",
        client: httpx.Client | None = None,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        if auth not in ("bearer", "query"):
            raise OpsError(f"unknown 1MSG auth mode {auth!r} (bearer or query)")
        self.base_url = base_url.rstrip("/")
        self.channel_id = channel_id
        self._token = token
        self._auth = auth
        self._client = client or httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def _request(self, verb: str, method: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.base_url}/{self.channel_id}/{method}"
        headers = {"Accept": "application/json"}
        params: dict[str, str] = {}
        if self._auth == "bearer":
            headers["Authorization"] = f"Bearer {self._token}"
        else:
            params["token"] = self._token
        try:
            response = self._client.request(verb, url, headers=headers, params=params, json=body)
        except httpx.HTTPError as exc:
            # The exception's text may hold the URL (and with query auth, the token).
            raise OpsError(
                f"1MSG {verb} {method}: {type(exc).__name__} talking to {mask_url(self.base_url)}"
            ) from None
        try:
            payload: Any = response.json()
        except ValueError:
            payload = None
        if response.status_code in (401, 403):
            raise OpsError(
                f"1MSG refused the token for channel {self.channel_id} "
                f"(HTTP {response.status_code} on {method}): check the token parameter"
            )
        error = payload.get("error") if isinstance(payload, dict) else None
        if response.is_error or error:
            detail = error if isinstance(error, str) else (error or {}).get("message", "")
            detail = mask_text(str(detail or response.reason_phrase), [self._token])
            raise OneMsgCallError(method, response.status_code, detail)
        return payload

    def webhooks(self) -> list[str]:
        return _url_list(self._request("GET", "webhook"))

    def set_webhooks(self, urls: Sequence[str]) -> None:
        self._request("POST", "webhook", {"webhookUrl": list(urls)})

    def settings(self) -> dict[str, Any] | None:
        """The channel's settings, or None where 1MSG offers no GET settings."""
        try:
            payload = self._request("GET", "settings")
        except OneMsgCallError as exc:
            if exc.status in (404, 405):
                return None
            raise
        if isinstance(payload, dict) and isinstance(payload.get("settings"), dict):
            payload = payload["settings"]
        return payload if isinstance(payload, dict) else None

    def update_settings(self, changes: dict[str, bool]) -> None:
        self._request("POST", "settings", changes)


class OneMsgCallError(OpsError):
    def __init__(self, method: str, status: int, detail: str) -> None:
        super().__init__(f"1MSG {method} answered HTTP {status}: {detail}")
        self.status = status


def _url_list(payload: Any) -> list[str]:
    value = payload.get("webhookUrl") if isinstance(payload, dict) else payload
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if v]
    raise OpsError(f"1MSG GET webhook answered an unexpected shape: {type(value).__name__}")


# --------------------------------------------------------------------------- the plan


@dataclass(slots=True)
class Plan:
    our_url: str
    before: list[str]
    after: list[str]
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    settings_before: dict[str, Any] | None = None
    settings_changes: dict[str, bool] = field(default_factory=dict)

    @property
    def webhooks_change(self) -> bool:
        return self.after != self.before

    @property
    def nothing_to_change(self) -> bool:
        return not self.webhooks_change and not self.settings_changes


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def plan_connection(
    current_urls: Sequence[str],
    current_settings: dict[str, Any] | None,
    api_url: str,
    secret: str,
    *,
    guaranteed_hooks: bool = True,
) -> Plan:
    """What to write so the channel posts to us, keeping every URL that is not ours.

    A URL under this stack's ``<ApiUrl>/hooks/1msg/`` with another secret is ours from before
    a secret rotation: it is replaced in place, not kept (it would only be answered 401).
    """
    prefix = api_url.rstrip("/") + HOOK_PATH
    ours = prefix + secret
    after: list[str] = []
    removed: list[str] = []
    placed = False
    for url in current_urls:
        if _same_url(url, ours) or url.startswith(prefix):
            if not _same_url(url, ours):
                removed.append(url)
            if not placed:  # ours goes where this stack's URL was; duplicates are dropped
                after.append(url if _same_url(url, ours) else ours)
                placed = True
            continue
        after.append(url)
    if not placed:
        after.append(ours)
    added = [] if any(_same_url(u, ours) for u in current_urls) else [ours]
    if len(after) > MAX_WEBHOOKS:
        others = [u for u in after if not _same_url(u, ours)]
        raise TooManyWebhooks(others)

    wanted = {"ackNotificationsOn": True}
    if guaranteed_hooks:
        wanted["guaranteedHooks"] = True
    if current_settings is None:
        changes = dict(wanted)  # 1MSG would not tell: set them (setting them is idempotent)
    else:
        changes = {k: v for k, v in wanted.items() if current_settings.get(k) not in _TRUE}
    return Plan(
        our_url=ours,
        before=list(current_urls),
        after=after,
        added=added,
        removed=removed,
        settings_before=current_settings,
        settings_changes=changes,
    )


class TooManyWebhooks(OpsError):
    def __init__(self, others: list[str]) -> None:
        self.others = others
        listed = "\n".join(f"  {mask_url(u)}" for u in others)
        super().__init__(
            f"the channel already has {len(others)} other webhook URLs and 1MSG keeps at most "
            f"{MAX_WEBHOOKS}; nothing was changed. Remove one you no longer need (POST webhook "
            f"with the list you want to keep), then run this again:\n{listed}"
        )


def connect(
    admin: OneMsgAdmin,
    api_url: str,
    secret: str,
    *,
    guaranteed_hooks: bool = True,
    dry_run: bool = False,
    out: Any = print,
) -> Plan:
    """Read, plan, write (unless dry run), read back. Raises OpsError when 1MSG disagrees."""
    current_urls = admin.webhooks()
    current_settings = admin.settings()
    plan = plan_connection(
        current_urls, current_settings, api_url, secret, guaranteed_hooks=guaranteed_hooks
    )
    show = _printer(secret, out)
    show(f"Our webhook: {plan.our_url}")
    _print_plan(plan, show)
    if plan.nothing_to_change:
        show("Nothing to change: the channel already posts to this stack with statuses on.")
        return plan
    if dry_run:
        show("Dry run: nothing written.")
        return plan
    if plan.webhooks_change:
        admin.set_webhooks(plan.after)
    if plan.settings_changes:
        admin.update_settings(plan.settings_changes)
    _verify(admin, plan, show)
    return plan


def _printer(secret: str, out: Any) -> Any:
    def show(line: str) -> None:
        out(mask_text(line, [secret]))

    return show


def _print_plan(plan: Plan, show: Any) -> None:
    show(f"Webhooks ({len(plan.after)} of {MAX_WEBHOOKS}):")
    for url in plan.after:
        if url not in plan.added:
            note = "ours, kept" if _same_url(url, plan.our_url) else "kept"
            show(f"  = {mask_url(url)}  ({note})")
        elif plan.removed:
            show(f"  + {mask_url(url)}  (ours, in place of the URL with an older secret)")
        else:
            show(f"  + {mask_url(url)}  (ours, added)")
    for url in plan.removed:
        show(f"  - {mask_url(url)}  (this stack's URL with an older secret)")
    show("Settings:")
    before = plan.settings_before
    for key in ("ackNotificationsOn", "guaranteedHooks"):
        if key in plan.settings_changes:
            was = "unknown" if before is None else _flag(before.get(key))
            show(f"  {key}: {was} -> true")
        elif before is not None and key in before:
            show(f"  {key}: {_flag(before.get(key))} (unchanged)")


def _flag(value: Any) -> str:
    return "true" if value in _TRUE else "false"


def _verify(admin: OneMsgAdmin, plan: Plan, show: Any) -> None:
    urls = admin.webhooks()
    settings = admin.settings()
    problems = []
    if not any(_same_url(u, plan.our_url) for u in urls):
        problems.append("our webhook URL is not in the channel's list")
    lost = [u for u in plan.after if not any(_same_url(u, v) for v in urls)]
    if lost:
        problems.append(f"{len(lost)} URL(s) we wrote are missing")
    if settings is not None:
        for key in plan.settings_changes:
            if settings.get(key) not in _TRUE:
                problems.append(f"{key} is still off")
    if problems:
        raise OpsError("1MSG read-back does not match what was written: " + "; ".join(problems))
    flags = ", ".join(f"{k}=true" for k in plan.settings_changes) or "settings unchanged"
    show(f"Done. Read back: our webhook is registered ({len(urls)} of {MAX_WEBHOOKS}); {flags}.")


# --------------------------------------------------------------------------- CLI


@dataclass(frozen=True, slots=True)
class Connection:
    api_url: str
    onemsg_url: str
    channel_id: str
    token_param: str
    secret_param: str
    auth: str


def _resolve(args: argparse.Namespace) -> tuple[Connection, str | None]:
    """Every value from the arguments, the rest from the stack (read only when needed)."""
    given = {
        "ApiUrl": args.api_url,
        "OneMsgApiUrl": args.onemsg_url,
        "OneMsgChannelId": args.channel,
        "OneMsgTokenParameter": args.token_param,
        "WebhookSecretParameter": args.secret_param,
    }
    target = resolve_target(args)
    stack: StackInfo | None = None
    if not all(given.values()):
        stack = target.stack()
        given["ApiUrl"] = given["ApiUrl"] or stack.output("ApiUrl")
        for key in ("OneMsgApiUrl", "OneMsgChannelId", "OneMsgTokenParameter"):
            given[key] = given[key] or stack.parameter(key)
        given["WebhookSecretParameter"] = given["WebhookSecretParameter"] or stack.parameter(
            "WebhookSecretParameter"
        )
    missing = [k for k, v in given.items() if not v]
    if missing:
        raise OpsError(f"no value for {', '.join(missing)}")
    auth = args.auth or (stack.parameter("OneMsgAuthMode") if stack else None) or "bearer"
    return (
        Connection(
            api_url=str(given["ApiUrl"]),
            onemsg_url=str(given["OneMsgApiUrl"]),
            channel_id=str(given["OneMsgChannelId"]),
            token_param=str(given["OneMsgTokenParameter"]),
            secret_param=str(given["WebhookSecretParameter"]),
            auth=auth,
        ),
        target.region,
    )


def read_secret(ssm: Any, name: str, what: str) -> str:
    try:
        value = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
            raise OpsError(
                f"SSM parameter {name} ({what}) does not exist: run make bootstrap-secrets"
            ) from None
        raise aws_error(exc, f"reading SSM parameter {name}") from None
    except BotoCoreError as exc:
        raise aws_error(exc, f"reading SSM parameter {name}") from None
    value = str(value).strip()
    if not value:
        raise OpsError(f"SSM parameter {name} ({what}) is empty")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ops.connect_1msg",
        description="Register the stack's webhook with the 1MSG channel and turn on statuses.",
    )
    add_stack_arguments(parser)
    parser.add_argument("--api-url", help="the stack's ApiUrl (default: the stack's output)")
    parser.add_argument("--onemsg-url", help="1MSG base URL (default: the stack's OneMsgApiUrl)")
    parser.add_argument("--channel", help="1MSG channel id (default: the stack's)")
    parser.add_argument("--token-param", help="SSM name of the channel token")
    parser.add_argument("--secret-param", help="SSM name of the webhook secret")
    parser.add_argument("--auth", choices=("bearer", "query"), help="1MSG auth (default: bearer)")
    parser.add_argument(
        "--guaranteed-hooks",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="turn on guaranteedHooks: 1MSG retries a webhook until it gets a 2xx, so a 5xx "
        "(DynamoDB throttled, a timeout) loses nothing (default: on; --no-guaranteed-hooks "
        "leaves the channel's setting as it is)",
    )
    parser.add_argument("--dry-run", action="store_true", help="show the plan, write nothing")
    parser.add_argument("--aws-endpoint-url", help="SSM endpoint (the local stack's moto)")
    return parser


def main(argv: Sequence[str] | None = None, *, client: httpx.Client | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        conn, region = _resolve(args)
        ssm = aws_client("ssm", region, args.aws_endpoint_url)
        token = read_secret(ssm, conn.token_param, "1MSG token")
        secret = read_secret(ssm, conn.secret_param, "webhook secret")
        print(
            f"1MSG channel {conn.channel_id} at {mask_url(conn.onemsg_url)} "
            f"(token from SSM {conn.token_param}, secret from {conn.secret_param})"
        )
        admin = OneMsgAdmin(conn.onemsg_url, conn.channel_id, token, auth=conn.auth, client=client)
        try:
            connect(
                admin,
                conn.api_url,
                secret,
                guaranteed_hooks=args.guaranteed_hooks,
                dry_run=args.dry_run,
            )
        finally:
            if client is None:
                admin.close()
        return 0

    return run(body)


if __name__ == "__main__":
    raise SystemExit(main())
