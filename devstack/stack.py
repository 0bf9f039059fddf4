"""`LocalStack`: the whole stack of template.yaml on loopback ports, started and stopped in order.

Order matters: the resources exist before any function starts (their names and URLs go into the
functions' environment), the 1MSG simulator exists before the functions (its URL is the
``OneMsgApiUrl`` parameter), and the webhook is registered last, through the simulator's real
API, exactly as an operator registers it with 1MSG.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import urlsplit

from devstack.aws import LocalAws, Secrets, local_region
from devstack.gateway import Gateway
from devstack.pump import Pump
from devstack.runtime import Invoker
from devstack.template import ResolveContext, Template

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MAX_WEBHOOKS = 5  # 1MSG keeps up to five URLs per channel


@dataclass(frozen=True)
class Settings:
    """What the developer can set through the environment; everything else is the template's."""

    channel_id: str
    token: str
    webhook_secret: str
    api_port: int
    onemsg_api_url: str | None  # None: run the simulator
    region: str
    verbose: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            channel_id=env.get("ONEMSG_CHANNEL_ID") or "100001",
            token=env.get("ONEMSG_TOKEN") or "local-token",
            webhook_secret=env.get("WEBHOOK_SECRET") or "local-webhook-secret",
            api_port=int(env.get("API_PORT") or 3000),
            onemsg_api_url=(env.get("ONEMSG_API_URL") or "").rstrip("/") or None,
            region=local_region(env),
            verbose=bool(env.get("LOG_LEVEL") or env.get("POWERTOOLS_LOG_LEVEL")),
        )

    @property
    def masked_token(self) -> str:
        return mask(self.token)


def mask(secret: str) -> str:
    """Enough of a secret to recognise it, never enough to use it."""
    if len(secret) < 12:
        return "*" * 8
    return f"{secret[:2]}{'*' * 8}{secret[-2:]}"


def is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in ("127.0.0.1", "localhost", "::1")


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class LocalStack:
    """Start with ``with LocalStack() as stack:``; everything it started stops on exit.

    ``functions`` limits which workers start (``invoke`` needs one); ``serve=False`` skips the
    gateway, the pump and the webhook registration. ``function_env`` is set in every function's
    environment on top of what the template gives it (e.g. shorter timeouts for a fault run);
    Lambda's own variables still win. ``warm`` starts that many environments of a function
    before serving (a load run then pays no cold start midway).
    """

    def __init__(
        self,
        root: Path = PROJECT_ROOT,
        *,
        env: Mapping[str, str] | None = None,
        serve: bool = True,
        functions: list[str] | None = None,
        echo_logs: bool | None = None,
        keep_logs: bool = False,
        out: IO[str] | None = None,
        function_env: Mapping[str, str] | None = None,
        warm: Mapping[str, int] | None = None,
    ) -> None:
        self.root = root
        self.function_env = dict(function_env or {})
        self.warm = dict(warm or {})
        self.env = dict(os.environ if env is None else env)
        self.settings = Settings.from_env(self.env)
        self.serve = serve
        self.functions = functions
        self.echo_logs = self.settings.verbose if echo_logs is None else echo_logs
        self.keep_logs = keep_logs or bool(self.env.get("DEVSTACK_KEEP_LOGS"))
        self.out = out or sys.stderr
        self.template = Template.load(root)
        self.log_dir = Path(tempfile.mkdtemp(prefix="session-reply-local-"))
        self.simulator: Any = None  # devstack.simulator.OneMsgSimulator, when we run one
        self.aws: LocalAws | None = None
        self.invoker: Invoker | None = None
        self.gateway: Gateway | None = None
        self.pump: Pump | None = None
        self.onemsg_url = ""
        self.ctx: ResolveContext | None = None
        self.timings: dict[str, float] = {}
        self.registration_error = ""  # why a 1MSG stand-in did not take our webhook URL

    # -- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> LocalStack:
        try:
            self.start()
        except BaseException:
            self.keep_logs = True  # a function that failed to start explains itself there
            self.stop()
            self.out.write(f"local stack did not start; function logs in {self.log_dir}\n")
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        s = self.settings
        params = self.template.parameters
        overrides = {"OneMsgChannelId": s.channel_id}
        self.ctx = ResolveContext.for_template(
            self.template, {k: v for k, v in overrides.items() if k in params}, region=s.region
        )
        self.aws = LocalAws(self.template, self.ctx, Secrets(s.token, s.webhook_secret))
        self._timed("aws", self.aws.start_server)
        self._timed("queues", self.aws.create_queues)
        self._timed("simulator", self._start_onemsg)
        if "OneMsgApiUrl" in params:
            self.ctx.parameters["OneMsgApiUrl"] = self.onemsg_url
        missing = [
            k
            for k, v in self.template.parameter_defaults().items()
            if v is None and k not in self.ctx.parameters
        ]
        if missing:
            raise RuntimeError(f"template parameters without a local value: {missing}")
        self.invoker = Invoker(
            self.template,
            self.ctx,
            self.aws.function_env(),
            self.log_dir,
            shell_env=self.env,
            echo=self.echo_logs,
            echo_stream=self.out,
            overrides=self.function_env,
        )
        # The workers import their handlers (the cold start) while the tables are created.
        invoker, aws = self.invoker, self.aws
        self._timed(
            "functions+tables",
            lambda: invoker.start(self.functions, meanwhile=aws.create_the_rest),
        )
        for logical_id, error in self.invoker.init_errors().items():
            self.out.write(f"warning: {logical_id} failed to initialise: {error}\n")
        if self.warm:
            self._timed("warm", lambda: invoker.warm(self.warm))
        if not self.serve:
            return
        self.gateway = Gateway(
            self.template.routes(),
            self.invoke,
            port=s.api_port,
            account_id=self.ctx.account_id,
            region=s.region,
            access_log=self._access_log if self.echo_logs else None,
        )
        self._timed("gateway", self.gateway.start)
        sources = self.template.sqs_sources()
        self.pump = Pump(
            self.invoke,
            self.aws.client,
            sources,
            self.aws.queue_urls,
            {q.logical_id: self.ctx.get_att(q.logical_id, "Arn") for q in self.template.queues()},
            schedule_sources=self.template.schedule_sources(),
            region=s.region,
            account_id=self.ctx.account_id,
            schedule_seconds=float(self.env.get("LOCAL_SCHEDULE_SECONDS") or 10),
        )
        self._timed("pump", self.pump.start)
        if self.simulator is not None:
            self._timed("webhook", self.register_webhook)
        elif is_loopback(self.onemsg_url):
            # Another 1MSG stand-in on this machine: register if it offers the webhook API,
            # else go on serving (it can be pointed at the webhook URL by hand).
            try:
                self._timed("webhook", self.register_webhook)
            except (OSError, ValueError, AttributeError) as exc:
                self.registration_error = f"{type(exc).__name__}: {exc}"

    def stop(self) -> None:
        """Stop in reverse order; every part tolerates not having started."""
        if self.pump is not None:
            self.pump.stop()
            self.pump = None
        if self.gateway is not None:
            self.gateway.stop()
            self.gateway = None
        if self.invoker is not None:
            self.invoker.stop()
            self.invoker = None
        if self.simulator is not None:
            self.simulator.stop()
            self.simulator = None
        if self.aws is not None:
            self.aws.stop()
            self.aws = None
        if not self.keep_logs:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    def _start_onemsg(self) -> None:
        s = self.settings
        if s.onemsg_api_url:
            self.onemsg_url = s.onemsg_api_url
            return
        from devstack.simulator import OneMsgSimulator

        self.simulator = OneMsgSimulator(s.channel_id, s.token)
        self.simulator.start()
        self.onemsg_url = str(self.simulator.url)

    def _timed(self, name: str, step: Any) -> None:
        started = time.monotonic()
        step()
        self.timings[name] = (time.monotonic() - started) * 1000

    @staticmethod
    def _require(value: Any) -> Any:
        if value is None:
            raise RuntimeError("the local stack is not started")
        return value

    def _access_log(self, line: str) -> None:
        self.out.write(f"[gateway] {line}\n")
        self.out.flush()

    # -- what callers use -----------------------------------------------------------------
    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        invoker: Invoker = self._require(self.invoker)
        return invoker.invoke(logical_id, event)

    @property
    def api_url(self) -> str:
        gateway: Gateway = self._require(self.gateway)
        return gateway.url

    @property
    def webhook_path(self) -> str:
        """The template's ``WebhookPath`` output (else the route with a {secret} parameter)."""
        path = self.template.output("WebhookPath")
        if not isinstance(path, str):
            path = next(r.path for r in self.template.routes() if "{secret}" in r.path)
        return path.replace("{secret}", self.settings.webhook_secret)

    @property
    def webhook_url(self) -> str:
        return f"{self.api_url}{self.webhook_path}"

    def client(self, service: str) -> Any:
        aws: LocalAws = self._require(self.aws)
        return aws.client(service)

    @property
    def aws_env(self) -> dict[str, str]:
        """What points a boto3 program (an operator CLI) at this local AWS: endpoint, region,
        dummy credentials."""
        aws: LocalAws = self._require(self.aws)
        return aws.function_env()

    def crm_events(self, wait_seconds: int = 0) -> list[dict[str, Any]]:
        aws: LocalAws = self._require(self.aws)
        return aws.crm_events(wait_seconds)

    def drain(self, timeout: float = 20.0) -> bool:
        pump: Pump = self._require(self.pump)
        return pump.drain(timeout)

    def physical_name(self, logical_id: str) -> str:
        ctx: ResolveContext = self._require(self.ctx)
        return ctx.physical_name(logical_id)

    # -- 1MSG, as an operator talks to it -------------------------------------------------
    def onemsg_call(self, method: str, http_method: str = "GET", body: Any = None) -> Any:
        """One call to the 1MSG API of this channel (Bearer auth); the parsed JSON answer."""
        url = f"{self.onemsg_url}/{self.settings.channel_id}/{method}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=http_method)
        request.add_header("Authorization", f"Bearer {self.settings.token}")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def register_webhook(self) -> None:
        """GET the channel's webhooks, add ours, POST the list back; switch the acks on."""
        current = self.onemsg_call("webhook").get("webhookUrl")
        urls = [current] if isinstance(current, str) and current else list(current or [])
        ours = self.webhook_url
        # A URL of an earlier local run (same path, other port) would only collect errors.
        urls = [u for u in urls if not (is_loopback(u) and urlsplit(u).path == self.webhook_path)]
        urls = [*urls, ours][-MAX_WEBHOOKS:]
        self.onemsg_call("webhook", "POST", {"webhookUrl": urls})
        self.onemsg_call("settings", "POST", {"ackNotificationsOn": True})

    def sent(self) -> list[dict[str, Any]]:
        """What reached 1MSG sendMessage/sendTemplate (the simulator's record)."""
        if self.simulator is not None:
            return list(self.simulator.sent())
        url = f"{self.onemsg_url}/_sim/sent"
        with urllib.request.urlopen(url, timeout=5) as response:
            data = json.loads(response.read())
        return list(data.get("sent", data) if isinstance(data, dict) else data)
