"""The local AWS: a moto server with every table, queue, bus and secret of template.yaml.

The resources are created from the template's own properties (keys, GSIs, TTL, FIFO, visibility,
redrive), so the functions meet the same shapes they meet in the deployed stack. A local "CRM
subscriber" queue with a rule on each bus shows what a CRM would receive. moto's DynamoDB is
serialised and narrowed first (`devstack.moto_dynamodb`): it scales with the data as DynamoDB
does.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from devstack import moto_dynamodb
from devstack.template import QueueSpec, ResolveContext, Template, resolve

CRM_SUBSCRIBER = "crm-subscriber"
CRM_EVENT_PATTERN = {"source": ["session-reply"]}
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def local_region(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or "us-east-1"


@dataclass
class Secrets:
    """The two secret values; the template only names the SSM parameters that hold them."""

    onemsg_token: str
    webhook_secret: str


def serve_moto(host: str) -> ThreadedMotoServer:
    """A started moto server on a free port of `host`, with DynamoDB narrowed first."""
    # moto's werkzeug logs every request line to stderr; the stack has its own output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # DynamoDB isolation, and transactions and queries that cost what they touch.
    moto_dynamodb.install()
    server = ThreadedMotoServer(ip_address=host, port=0, verbose=False)
    server.start()
    return server


@dataclass
class LocalAws:
    """A moto server plus the template's resources, created in dependency order."""

    template: Template
    ctx: ResolveContext
    secrets: Secrets
    server: ThreadedMotoServer | None = None
    endpoint_url: str = ""
    queue_urls: dict[str, str] = field(default_factory=dict)  # logical id -> url
    crm_queue_url: str = ""
    host: str = "127.0.0.1"  # another address (Docker's bridge) lets containers reach it
    # The server in a process of its own (`devstack.moto_process`), not in this one's threads.
    own_process: bool = False
    process: subprocess.Popen[str] | None = None

    def start(self) -> LocalAws:
        """The server and every resource (`LocalStack` splits this to overlap cold starts)."""
        self.start_server()
        self.create_queues()
        self.create_the_rest()
        return self

    def start_server(self) -> None:
        if self.own_process:
            self._start_process()
            return
        self.server = serve_moto(self.host)
        host, port = self.server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        # moto keeps its state in this process: start from nothing, whatever ran before.
        self._reset()

    def _start_process(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - this interpreter, our module
            [sys.executable, "-m", "devstack.moto_process", self.host],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        port = self.process.stdout.readline().strip()
        if not port.isdigit():
            self.process.kill()
            raise RuntimeError("the moto server process did not start")
        self.endpoint_url = f"http://{self.host}:{port}"

    def create_queues(self) -> None:
        """Queues first: their URLs (an SQS queue's !Ref) go into the functions' environment."""
        self._create_queues()

    def create_the_rest(self) -> None:
        """Tables, buses and the CRM subscriber, the secrets: nothing a worker's env needs."""
        self._create_tables()
        self._create_buses()
        self._put_secrets()

    def stop(self) -> None:
        if self.server is not None:
            self._reset()  # leave no tables or queues behind for whatever runs next here
            self.server.stop()
            self.server = None
        if self.process is not None:
            assert self.process.stdin is not None
            self.process.stdin.close()  # the server stops at EOF
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None

    def _reset(self) -> None:
        """moto's own reset: its backends are global to the process (one stack per process)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    # -- clients --------------------------------------------------------------------------
    def client(self, service: str) -> Any:
        """A boto3 client bound to the local endpoint with dummy credentials, never real AWS."""
        session = boto3.session.Session(
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=DUMMY_CREDENTIALS["AWS_SESSION_TOKEN"],
            region_name=self.ctx.region,
        )
        return session.client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]

    def function_env(self) -> dict[str, str]:
        """What a worker needs to reach this local AWS (and only it)."""
        return {
            **DUMMY_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": self.ctx.region,
            "AWS_DEFAULT_REGION": self.ctx.region,
        }

    # -- resources ------------------------------------------------------------------------
    def _create_tables(self) -> None:
        ddb = self.client("dynamodb")
        for table in self.template.tables():
            props = resolve(table.properties, self.ctx)
            name = self.ctx.physical_name(table.logical_id)
            billing = str(props.get("BillingMode", "PROVISIONED"))
            kwargs: dict[str, Any] = {
                "TableName": name,
                "AttributeDefinitions": props["AttributeDefinitions"],
                "KeySchema": props["KeySchema"],
                "BillingMode": billing,
            }
            throughput = props.get("ProvisionedThroughput") or {
                "ReadCapacityUnits": 5,
                "WriteCapacityUnits": 5,
            }
            if billing == "PROVISIONED":
                kwargs["ProvisionedThroughput"] = _ints(throughput)
            gsis = []
            for gsi in props.get("GlobalSecondaryIndexes") or []:
                gsi = dict(gsi)
                if billing == "PROVISIONED":
                    gsi.setdefault("ProvisionedThroughput", throughput)
                    gsi["ProvisionedThroughput"] = _ints(gsi["ProvisionedThroughput"])
                else:
                    gsi.pop("ProvisionedThroughput", None)
                gsis.append(gsi)
            if gsis:
                kwargs["GlobalSecondaryIndexes"] = gsis
            if props.get("LocalSecondaryIndexes"):
                kwargs["LocalSecondaryIndexes"] = props["LocalSecondaryIndexes"]
            if props.get("StreamSpecification"):
                kwargs["StreamSpecification"] = {
                    "StreamEnabled": True,
                    **props["StreamSpecification"],
                }
            ddb.create_table(**kwargs)
            if table.ttl_attribute:
                ddb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"AttributeName": table.ttl_attribute, "Enabled": True},
                )

    def _create_queues(self) -> None:
        sqs = self.client("sqs")
        for queue in _dlq_first(self.template.queues()):
            props = resolve(queue.properties, self.ctx)
            attributes: dict[str, str] = {}
            for key in (
                "FifoQueue",
                "ContentBasedDeduplication",
                "VisibilityTimeout",
                "MessageRetentionPeriod",
                "DelaySeconds",
                "MaximumMessageSize",
                "ReceiveMessageWaitTimeSeconds",
                "DeduplicationScope",
                "FifoThroughputLimit",
            ):
                if key in props:
                    attributes[key] = _attr(props[key])
            if props.get("RedrivePolicy"):
                policy = props["RedrivePolicy"]
                attributes["RedrivePolicy"] = json.dumps(
                    {
                        "deadLetterTargetArn": policy["deadLetterTargetArn"],
                        "maxReceiveCount": int(policy["maxReceiveCount"]),
                    }
                )
            if attributes.get("FifoQueue") == "false":
                del attributes["FifoQueue"]  # SQS rejects FifoQueue=false on a standard queue
            name = self.ctx.physical_name(queue.logical_id)
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            self.queue_urls[queue.logical_id] = url
            self.ctx.refs[queue.logical_id] = url  # an SQS queue's !Ref is its URL

    def _create_buses(self) -> None:
        events = self.client("events")
        sqs = self.client("sqs")
        self.crm_queue_url = sqs.create_queue(QueueName=f"{self.ctx.stack_name}-{CRM_SUBSCRIBER}")[
            "QueueUrl"
        ]
        crm_arn = sqs.get_queue_attributes(
            QueueUrl=self.crm_queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        for bus in self.template.event_buses():
            name = self.ctx.physical_name(bus.logical_id)
            events.create_event_bus(Name=name)
            rule = f"{self.ctx.stack_name}-{CRM_SUBSCRIBER}-{bus.logical_id}"[:64]
            events.put_rule(
                Name=rule, EventBusName=name, EventPattern=json.dumps(CRM_EVENT_PATTERN)
            )
            events.put_targets(
                Rule=rule, EventBusName=name, Targets=[{"Id": CRM_SUBSCRIBER, "Arn": crm_arn}]
            )

    def _put_secrets(self) -> None:
        ssm = self.client("ssm")
        values = {
            "OneMsgTokenParameter": self.secrets.onemsg_token,
            "WebhookSecretParameter": self.secrets.webhook_secret,
        }
        for parameter, value in values.items():
            if parameter not in self.ctx.parameters:
                continue
            ssm.put_parameter(
                Name=self.ctx.parameters[parameter],
                Value=value,
                Type="SecureString",
                Overwrite=True,
            )

    # -- what a CRM would see -------------------------------------------------------------
    def crm_events(self, wait_seconds: int = 0) -> list[dict[str, Any]]:
        """Take the events the CRM subscriber queue holds (each is read once)."""
        sqs = self.client("sqs")
        out: list[dict[str, Any]] = []
        while True:
            got = sqs.receive_message(
                QueueUrl=self.crm_queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=wait_seconds if not out else 0,
            ).get("Messages", [])
            if not got:
                return out
            for message in got:
                out.append(json.loads(message["Body"]))
            sqs.delete_message_batch(
                QueueUrl=self.crm_queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
                ],
            )


def _dlq_first(queues: list[QueueSpec]) -> list[QueueSpec]:
    """Order queues so every dead-letter target exists before the queue that names it."""
    by_id = {q.logical_id: q for q in queues}
    ordered: list[QueueSpec] = []

    def visit(queue: QueueSpec, seen: frozenset[str]) -> None:
        if queue in ordered or queue.logical_id in seen:
            return
        target = queue.redrive_target
        if target in by_id:
            visit(by_id[target], seen | {queue.logical_id})
        ordered.append(queue)

    for queue in queues:
        visit(queue, frozenset())
    return ordered


def _attr(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _ints(throughput: Mapping[str, Any]) -> dict[str, int]:
    return {k: int(v) for k, v in throughput.items()}
