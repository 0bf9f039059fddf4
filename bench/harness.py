"""The real handlers in this process, against a moto *server* on loopback.

`Harness` starts a moto server in a process of its own, with every table, queue, bus and SSM
parameter of template.yaml (devstack's `LocalAws`), a 1MSG simulator (no webhooks registered:
the bench posts the echo and the acks itself, when it wants them), sets the environment the
template gives the functions, and imports ``functions/<dir>/app.py`` as Lambda would (the layer's
folder on ``sys.path``). moto runs in its own process because Lambda's holds only the
function: in this one, every full pass of the collector walked moto's tables too (pauses of
hundreds of milliseconds in the latency tail); ``BENCH_MOTO_IN_PROCESS=1`` puts it back in
this process's threads, to compare. Everything it changes in the process (env vars,
``sys.path``, the product's per-container caches, the Powertools log stream) is put back by
`stop`.

The functions' JSON logs and EMF metrics go to a `ByteSink`: counted (bytes, lines, metric
names, for the CloudWatch cost), never printed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import sys
import time
import uuid
import warnings
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from bench.awscalls import CallCounter, TableShape

ROOT = Path(__file__).resolve().parent.parent
CHANNEL = "100001"
TOKEN = "bench-token"  # noqa: S105 - a local simulator's token
SECRET = "bench-webhook-secret"  # noqa: S105 - the local webhook path secret
FLOOR_QUEUE = "session-reply-bench-floor.fifo"


class ByteSink(io.TextIOBase):
    """A stdout stand-in that counts what the functions log (and keeps EMF metric names)."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0
        self.lines = 0
        self.metric_names: set[str] = set()
        self.tail: deque[str] = deque(maxlen=20)  # the last lines, to explain a failure
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.bytes += len(text.encode())
        self._partial += text
        while "\n" in self._partial:
            line, self._partial = self._partial.split("\n", 1)
            if line.strip():
                self.lines += 1
                self.tail.append(line)
                if '"_aws"' in line:
                    self._metrics(line)
        return len(text)

    def _metrics(self, line: str) -> None:
        try:
            data = json.loads(line)
            for directive in data["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    self.metric_names.add(str(metric["Name"]))
        except (ValueError, KeyError, TypeError):
            return


@dataclass
class LambdaContext:
    function_name: str = "bench-function"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:bench-function"
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/bench-function"
    log_stream_name: str = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@dataclass
class Invocation:
    result: Any
    seconds: float
    log_bytes: int
    log_lines: int


def load_handler(folder: str) -> ModuleType:
    """Import functions/<folder>/app.py under its own name (every handler is `app`)."""
    spec = importlib.util.spec_from_file_location(
        f"bench_{folder}_app", ROOT / "functions" / folder / "app.py"
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load functions/{folder}/app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reset_product_caches() -> None:
    """The per-container caches of the product: every ``lru_cache`` in its modules (clients,
    settings, ...), the roster cache, and the Powertools parameters cache."""
    from aws_lambda_powertools.utilities import parameters

    for name, module in list(sys.modules.items()):
        if not name.startswith("session_reply") or module is None:
            continue
        for value in list(vars(module).values()):
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()
        forget = getattr(module, "forget_roster", None)
        if callable(forget):
            forget()
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    getattr(parameters.base, "DEFAULT_PROVIDERS", {}).clear()


class Harness:
    """``with Harness() as h:`` the product's handlers, warm, against a moto server."""

    def __init__(self, root: Path = ROOT, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.overrides = dict(env or {})  # on top of the template's (e.g. a smoke test's)
        self.sink = ByteSink()
        self.aws: Any = None  # devstack.aws.LocalAws
        self.simulator: Any = None  # devstack.simulator.OneMsgSimulator
        self.gateway: Any = None  # devstack.gateway.Gateway (event builder only)
        self.webhook: ModuleType | None = None
        self.sender: ModuleType | None = None
        self.table = ""
        self.queue_url = ""
        self.floor_queue_url = ""
        self.bus_name = ""
        self.queue_arn = ""
        self._saved_env: dict[str, str | None] = {}
        self._saved_path: list[str] = []
        self._saved_streams: list[tuple[Any, Any]] = []
        self._clients: dict[str, Any] = {}
        self._modules: dict[str, ModuleType] = {}
        self._shapes: dict[str, TableShape] = {}
        self.memory_mb: dict[str, int] = {}

    # -- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> Harness:
        try:
            self.start()
        except BaseException:
            self.stop()
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
        from devstack.aws import LocalAws, Secrets
        from devstack.gateway import Gateway
        from devstack.simulator import OneMsgSimulator
        from devstack.template import ResolveContext, Template, overlay_env, resolve

        # Powertools warns when an invocation emitted no metric (an ack that changed nothing).
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        template = Template.load(self.root)
        ctx = ResolveContext.for_template(template, {"OneMsgChannelId": CHANNEL})
        self.simulator = OneMsgSimulator(CHANNEL, TOKEN, ack_delay=0.0)
        self.simulator.start()
        ctx.parameters["OneMsgApiUrl"] = str(self.simulator.url)
        # moto in a process of its own: the handlers' process holds only them, as on Lambda.
        own = os.environ.get("BENCH_MOTO_IN_PROCESS") != "1"
        self.aws = LocalAws(template, ctx, Secrets(TOKEN, SECRET), own_process=own)
        self.aws.start()
        env: dict[str, str] = dict(self.aws.function_env())
        for fn in template.functions():
            overlay_env(env, {k: _env_str(v) for k, v in resolve(fn.environment, ctx).items()})
            self.memory_mb[fn.logical_id] = fn.memory_size
        env.update({"POWERTOOLS_DEV": "false", "AWS_LAMBDA_LOG_FORMAT": "JSON"})
        env.update(self.overrides)
        for name, value in env.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value
        self.table = env["TABLE_NAME"]
        self.queue_url = env["SEND_QUEUE_URL"]
        self.bus_name = env["EVENT_BUS_NAME"]
        self.queue_arn = ctx.get_att("SendQueue", "Arn")
        sqs = self.client("sqs")
        self.floor_queue_url = sqs.create_queue(
            QueueName=FLOOR_QUEUE,
            Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false"},
        )["QueueUrl"]
        self._saved_path = list(sys.path)
        layer = str(self.root / "layers" / "common")
        if layer not in sys.path:
            sys.path.insert(0, layer)
        reset_product_caches()
        self.webhook = load_handler("webhook")
        self.sender = load_handler("sender")
        self._mute_logs()
        self.gateway = Gateway(
            template.routes(), lambda _fn, _event: None, account_id=ctx.account_id
        )

    def stop(self) -> None:
        for handler, stream in self._saved_streams:
            handler.setStream(stream)
        self._saved_streams.clear()
        with contextlib.suppress(Exception):
            reset_product_caches()
        if self.simulator is not None:
            self.simulator.stop()
            self.simulator = None
        if self.aws is not None:
            self.aws.stop()
            self.aws = None
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()
        if self._saved_path:
            sys.path[:] = self._saved_path

    def _mute_logs(self) -> None:
        import logging

        from session_reply.observability import logger

        handlers = [logger.registered_handler]
        for candidate in logging.getLogger(logger.service).handlers:
            if candidate not in handlers:
                handlers.append(candidate)
        for handler in handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is not self.sink:
                self._saved_streams.append((handler, handler.setStream(self.sink)))

    # -- clients the bench uses for itself (never counted as the product's) ---------------
    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.aws.client(service)
        return self._clients[service]

    def shape(self, table: str) -> TableShape:
        if table not in self._shapes:
            description = self.client("dynamodb").describe_table(TableName=table)["Table"]
            keys = tuple(k["AttributeName"] for k in description["KeySchema"])
            indexes: dict[str, tuple[tuple[str, ...], tuple[str, ...] | None]] = {}
            for gsi in description.get("GlobalSecondaryIndexes", []):
                projection = gsi.get("Projection", {})
                projected: tuple[str, ...] | None = None
                if projection.get("ProjectionType") != "ALL":
                    projected = tuple(projection.get("NonKeyAttributes", []))
                indexes[gsi["IndexName"]] = (
                    tuple(k["AttributeName"] for k in gsi["KeySchema"]),
                    projected,
                )
            self._shapes[table] = TableShape(keys, indexes)
        return self._shapes[table]

    def snapshot(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        item = self.client("dynamodb").get_item(TableName=table, Key=key, ConsistentRead=True)
        found: dict[str, Any] | None = item.get("Item")
        return found

    def counter(self, *, capacity: bool) -> CallCounter:
        return CallCounter(capacity=capacity, snapshot=self.snapshot, shape=self.shape)

    # -- invoking -------------------------------------------------------------------------
    def invoke(self, module: ModuleType | None, event: dict[str, Any]) -> Invocation:
        assert module is not None
        before_bytes, before_lines = self.sink.bytes, self.sink.lines
        context = LambdaContext()
        with contextlib.redirect_stdout(self.sink):
            started = time.perf_counter()
            result = module.lambda_handler(event, context)
            seconds = time.perf_counter() - started
        return Invocation(
            result, seconds, self.sink.bytes - before_bytes, self.sink.lines - before_lines
        )

    def hook_event(self, body: dict[str, Any]) -> dict[str, Any]:
        """The HTTP API 2.0 event 1MSG's POST becomes (devstack's gateway builds it)."""
        route = next(r for r in self.gateway.routes if "{secret}" in r.route.path).route
        path = route.path.replace("{secret}", SECRET)
        raw = json.dumps(body, ensure_ascii=False).encode()
        event: dict[str, Any] = self.gateway.build_event(
            route,
            {"secret": SECRET},
            "POST",
            path,
            "",
            [("content-type", "application/json"), ("user-agent", "1msg-webhook/1.0")],
            raw,
            request_id=uuid.uuid4().hex[:16],
        )
        return event

    def load(self, folder: str) -> ModuleType:
        """Another function's handler, loaded on demand (e.g. the status poller)."""
        if folder not in self._modules:
            self._modules[folder] = load_handler(folder)
            self._mute_logs()
        return self._modules[folder]

    def receive_send_records(
        self, max_records: int = 1, wait_seconds: int = 0
    ) -> list[dict[str, Any]]:
        """What Lambda's SQS poller hands the sender (received here, outside any count)."""
        from devstack.pump import sqs_record

        messages = (
            self.client("sqs")
            .receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=max_records,
                MessageSystemAttributeNames=["All"],
                WaitTimeSeconds=wait_seconds,
            )
            .get("Messages", [])
        )
        return [sqs_record(m, self.queue_arn, self.aws.ctx.region) for m in messages]

    def delete_records(self, records: list[dict[str, Any]], result: Any) -> None:
        """Lambda deletes the records the function did not report as failed."""
        from devstack.pump import succeeded_ids

        done = succeeded_ids(records, result, True)
        entries = [
            {"Id": str(i), "ReceiptHandle": r["receiptHandle"]}
            for i, r in enumerate(records)
            if r["messageId"] in done
        ]
        if entries:
            self.client("sqs").delete_message_batch(QueueUrl=self.queue_url, Entries=entries)

    def sent(self) -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = self.simulator.sent()
        return sent


@contextlib.contextmanager
def harness(root: Path = ROOT, env: dict[str, str] | None = None) -> Iterator[Harness]:
    with Harness(root, env) as running:
        yield running


def _env_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)
