"""The local stack runs template.yaml faithfully: gateway events, SQS pump, workers, 1MSG loop.

One `LocalStack` serves the whole module (moto, the 1MSG simulator, a worker per function, the
gateway on a free port, the pump). Each test uses its own chat id, so tests never see each
other's leads. Waiting is always a deadline with polling, never a bare sleep.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model

from devstack import onemsg_payloads
from devstack.gateway import Gateway, map_result
from devstack.pump import Pump, sqs_record, succeeded_ids
from devstack.runtime import FunctionError, Invoker
from devstack.stack import LocalStack
from devstack.template import ResolveContext, Route, ScheduleSource, SqsSource, Template

T = TypeVar("T")
DEADLINE = 15.0
# `sam local generate-event apigateway http-api-proxy`: the keys API Gateway always sends.
V2_EVENT_KEYS = {
    "version",
    "routeKey",
    "rawPath",
    "rawQueryString",
    "headers",
    "requestContext",
    "isBase64Encoded",
}
V2_CONTEXT_KEYS = {
    "accountId",
    "apiId",
    "domainName",
    "domainPrefix",
    "http",
    "requestId",
    "routeKey",
    "stage",
    "time",
    "timeEpoch",
}
V2_HTTP_KEYS = {"method", "path", "protocol", "sourceIp", "userAgent"}


def wait_for(probe: Callable[[], T | None], what: str, seconds: float = DEADLINE) -> T:
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds:.0f} s")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def stack(project_root: Path) -> Iterator[LocalStack]:
    env = {k: v for k, v in os.environ.items() if k not in ("ONEMSG_API_URL", "LOG_LEVEL")}
    env["API_PORT"] = "0"
    with LocalStack(project_root, env=env, echo_logs=False) as running:
        yield running


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.api_url, timeout=15) as client:
        yield client


def new_chat() -> tuple[str, str]:
    phone = "7701" + "".join(secrets.choice("0123456789") for _ in range(7))
    return phone, f"{phone}@c.us"


def client_hook(stack: LocalStack, chat_id: str, name: str, body: str) -> dict[str, Any]:
    message = onemsg_payloads.client_message(
        chat_id, f"wamid.test{secrets.token_hex(8)}", body, name
    )
    return onemsg_payloads.hook(stack.settings.channel_id, message)


def concrete(path: str, value: str = "x") -> str:
    """A request path for a route path: each {param} replaced by ``value``."""
    return re.sub(r"\{[^}]+\}", value, path)


def capture(into: list[dict[str, Any]], result: Any) -> Callable[[str, dict[str, Any]], Any]:
    """A stand-in function that keeps each event it gets and returns ``result``."""

    def function(logical_id: str, event: dict[str, Any]) -> Any:
        into.append(event)
        return result

    return function


def sends_to(stack: LocalStack, chat_id: str) -> list[dict[str, Any]]:
    return [s for s in stack.sent() if s.get("chatId") == chat_id]


# --------------------------------------------------------------------------- gateway


def test_gateway_sends_a_complete_v2_event_when_a_route_matches(template: Template) -> None:
    # Given a gateway over the template's routes whose function only captures its event
    seen: list[dict[str, Any]] = []
    gateway = Gateway(template.routes(), capture(seen, {"ok": True}))
    route = next(r for r in template.routes() if r.iam_auth and "{" in r.path)
    path = concrete(route.path, "p%40x")
    # When a request with a query, a cookie and a body arrives on it
    response = gateway.handle(
        route.method,
        f"{path}?a=1&a=2&b=",
        [
            ("Host", "127.0.0.1:3000"),
            ("Cookie", "c1=v1; c2=v2"),
            ("User-Agent", "t/1"),
            ("X-Multi", "1"),
            ("X-Multi", "2"),
        ],
        b'{"x": 1}',
    )
    # Then the function got the full payload 2.0 event, and its dict came back as 200 JSON
    assert response.status == 200 and json.loads(response.body) == {"ok": True}
    event = seen[0]
    assert set(event) >= V2_EVENT_KEYS
    assert set(event["requestContext"]) >= V2_CONTEXT_KEYS
    assert set(event["requestContext"]["http"]) >= V2_HTTP_KEYS
    assert event["version"] == "2.0"
    assert event["routeKey"] == event["requestContext"]["routeKey"] == route.route_key
    assert event["requestContext"]["stage"] == "$default"
    assert event["rawPath"] == path and event["rawQueryString"] == "a=1&a=2&b="
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["headers"]["x-multi"] == "1,2" and event["headers"]["user-agent"] == "t/1"
    assert set(event["pathParameters"].values()) == {"p@x"}
    assert event["body"] == '{"x": 1}' and event["isBase64Encoded"] is False
    assert "iam" in event["requestContext"]["authorizer"]
    # and Powertools' own model of the 2.0 event accepts it whole
    APIGatewayProxyEventV2Model.model_validate(event)


def test_gateway_base64_encodes_the_body_when_it_is_not_utf8(template: Template) -> None:
    seen: list[dict[str, Any]] = []
    gateway = Gateway(template.routes(), capture(seen, "ok"))
    route = next(r for r in template.routes() if r.method == "POST")
    response = gateway.handle("POST", concrete(route.path), [], b"\xff\xfe")
    assert seen[0]["isBase64Encoded"] is True and seen[0]["body"] == "//4="
    assert response.status == 200 and response.body == b"ok"


def test_gateway_answers_500_when_the_function_raises(template: Template) -> None:
    def failing(fn: str, event: dict[str, Any]) -> Any:
        raise FunctionError(fn, {"errorType": "ValueError", "errorMessage": "boom"})

    gateway = Gateway(template.routes(), failing)
    route = template.routes()[0]
    response = gateway.handle(route.method, concrete(route.path), [], b"")
    assert response.status == 500
    assert json.loads(response.body) == {"message": "Internal Server Error"}


def test_gateway_maps_the_result_when_it_is_a_full_response() -> None:
    response = map_result(
        {
            "statusCode": 201,
            "headers": {"X-A": "1"},
            "body": "aGk=",
            "isBase64Encoded": True,
            "cookies": ["s=1"],
        },
        "rid",
    )
    assert response.status == 201 and response.body == b"hi"
    assert ("X-A", "1") in response.headers and ("Set-Cookie", "s=1") in response.headers


def test_unknown_route_answers_404_when_no_template_route_matches(
    api: httpx.Client, template: Template
) -> None:
    response = api.get("/no/such/route")
    assert response.status_code == 404 and response.json() == {"message": "Not Found"}
    # a known path with a method the template does not declare is not a route either
    route = template.routes()[0]
    assert api.request("DELETE", concrete(route.path)).status_code == 404


def test_webhook_answers_401_when_the_secret_is_wrong(stack: LocalStack, api: httpx.Client) -> None:
    # Given the real WebhookFunction behind the gateway
    _, chat_id = new_chat()
    wrong = stack.webhook_path.replace(stack.settings.webhook_secret, "not-the-secret")
    # When 1MSG-shaped JSON arrives on a wrong secret; Then the function itself refuses it
    response = api.post(wrong, json=client_hook(stack, chat_id, "Aida", "Hello"))
    assert response.status_code == 401
    assert api.get(f"/leads/{chat_id}").status_code == 404


# --------------------------------------------------------------------------- the loop


def test_one_reply_with_the_client_name_is_sent_when_a_client_writes(
    stack: LocalStack, api: httpx.Client
) -> None:
    _, chat_id = new_chat()
    response = api.post(
        stack.webhook_path, json=client_hook(stack, chat_id, "Aigerim", "Price of delivery?")
    )
    assert response.status_code == 200
    sent = wait_for(lambda: sends_to(stack, chat_id) or None, "sendMessage to the simulator")
    assert stack.drain(DEADLINE)
    sent = sends_to(stack, chat_id)
    assert len(sent) == 1
    assert sent[0]["method"] == "sendMessage" and "Aigerim" in sent[0]["body"]


def test_auto_reply_reaches_read_when_the_echo_and_acks_come_back(
    stack: LocalStack, api: httpx.Client
) -> None:
    _, chat_id = new_chat()
    api.post(stack.webhook_path, json=client_hook(stack, chat_id, "Dana", "Need a courier"))

    def auto_reply_status() -> str | None:
        response = api.get(f"/leads/{chat_id}")
        if response.status_code != 200:
            return None
        for message in response.json().get("messages") or []:
            if message.get("direction") == "out" and message.get("author") == "auto":
                return "read" if message.get("status") == "read" else None
        return None

    assert wait_for(auto_reply_status, "the auto-reply reaching status read") == "read"


def test_one_send_when_the_same_webhook_arrives_twice(stack: LocalStack, api: httpx.Client) -> None:
    _, chat_id = new_chat()
    hook = client_hook(stack, chat_id, "Timur", "Is it in stock?")
    statuses: list[int] = []
    posts = [
        threading.Thread(
            target=lambda: statuses.append(
                httpx.post(stack.webhook_url, json=hook, timeout=15).status_code
            )
        )
        for _ in range(2)
    ]
    # Given the same webhook delivered twice at once (each in its own environment), then late
    for post in posts:
        post.start()
    for post in posts:
        post.join()
    assert api.post(stack.webhook_path, json=hook).status_code == 200
    # When everything the webhooks queued has been through the sender (a webhook queues before
    # it answers, so a second command would already be in the queue the drain waits on)
    wait_for(lambda: sends_to(stack, chat_id) or None, "sendMessage to the simulator")
    assert stack.drain(DEADLINE)
    # Then 1MSG got exactly one sendMessage
    assert statuses == [200, 200]
    assert len(sends_to(stack, chat_id)) == 1


def test_crm_subscriber_receives_lead_events_when_a_client_writes(
    stack: LocalStack, api: httpx.Client
) -> None:
    _, chat_id = new_chat()
    api.post(stack.webhook_path, json=client_hook(stack, chat_id, "Ermek", "Hello there"))
    received: list[dict[str, Any]] = []

    def mine() -> bool | None:
        received.extend(stack.crm_events())
        ours = [e for e in received if json.dumps(e.get("detail")).count(chat_id)]
        return True if ours else None

    wait_for(mine, "an event for the lead on the CRM subscriber queue")
    assert {e["source"] for e in received} == {"session-reply"}


# --------------------------------------------------------------------------- machinery


def test_pump_deletes_only_the_records_that_succeeded_when_the_function_reports_failures(
    stack: LocalStack,
) -> None:
    # Given a scratch FIFO queue and a function that fails the record whose body is "bad"
    sqs = stack.client("sqs")
    url = sqs.create_queue(
        QueueName=f"scratch-{secrets.token_hex(4)}.fifo",
        Attributes={"FifoQueue": "true", "VisibilityTimeout": "60"},
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    batches: list[dict[str, Any]] = []

    def function(fn: str, event: dict[str, Any]) -> dict[str, Any]:
        batches.append(event)
        bad = [r["messageId"] for r in event["Records"] if r["body"] == "bad"]
        return {"batchItemFailures": [{"itemIdentifier": i} for i in bad]}

    for i, body in enumerate(["good", "bad"]):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=body,
            MessageGroupId=f"g{i}",
            MessageDeduplicationId=f"d{i}",
            MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}},
        )
    source = SqsSource(
        "Fn", "Ev", "Scratch", batch_size=10, report_batch_item_failures=True, maximum_concurrency=1
    )
    pump = Pump(function, stack.client, [source], {"Scratch": url}, {"Scratch": arn}).start()
    try:
        # When the pump has run the batch
        wait_for(lambda: sum(len(b["Records"]) for b in batches) >= 2 or None, "both records")
    finally:
        pump.stop()
    # Then the good record is gone and the bad one waits for its visibility timeout
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "1"
    record = batches[0]["Records"][0]
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == arn
    assert record["attributes"]["MessageGroupId"].startswith("g")
    assert {"ApproximateReceiveCount", "SentTimestamp", "MessageDeduplicationId"} <= set(
        record["attributes"]
    )
    assert record["messageAttributes"]["k"]["stringValue"] == "v"
    assert record["md5OfBody"]


def test_pump_keeps_the_whole_batch_when_the_response_names_an_unknown_record() -> None:
    records = [sqs_record({"MessageId": "m1", "ReceiptHandle": "r", "Body": "x"}, "arn", "r")]
    unknown = {"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]}
    assert succeeded_ids(records, unknown, report_failures=True) == set()
    assert succeeded_ids(records, {"batchItemFailures": []}, report_failures=True) == {"m1"}
    assert succeeded_ids(records, unknown, report_failures=False) == {"m1"}


def test_each_function_runs_in_its_own_process_when_the_stack_is_up(stack: LocalStack) -> None:
    assert stack.invoker is not None
    stats = {fn.logical_id: stack.invoker.stats(fn.logical_id) for fn in stack.template.functions()}
    assert len({s["pid"] for s in stats.values()}) == len(stats)
    assert all(s["init_ms"] > 0 and s["max_rss_kb"] > 0 for s in stats.values())


def test_worker_env_is_the_template_env_when_the_shell_has_real_aws_settings(
    stack: LocalStack, tmp_path: Path
) -> None:
    # Given a developer shell pointing at a real AWS profile
    assert stack.aws is not None and stack.ctx is not None
    shell = {"PATH": os.environ.get("PATH", ""), "AWS_PROFILE": "prod", "AWS_ACCESS_KEY_ID": "AKIA"}
    invoker = Invoker(
        stack.template, stack.ctx, stack.aws.function_env(), tmp_path, shell_env=shell
    )
    fn = next(f for f in stack.template.functions() if "TABLE_NAME" in f.environment)
    # When the worker's environment is built
    env = invoker.function_env(fn.logical_id)
    # Then it has the template's values resolved, the local endpoint, and nothing of the shell's
    assert env["TABLE_NAME"].startswith("session-reply-local-")
    assert env["AWS_ENDPOINT_URL"] == stack.aws.endpoint_url
    assert env["AWS_ACCESS_KEY_ID"] == "testing" and "AWS_PROFILE" not in env
    assert env["AWS_LAMBDA_FUNCTION_TIMEOUT"] == str(fn.timeout)
    queue_vars = [v for v in env.values() if v.startswith("http") and "/123456789012/" in v]
    assert all(v.startswith(stack.aws.endpoint_url) for v in queue_vars)


def test_no_worker_is_left_when_the_invoker_stops(stack: LocalStack, tmp_path: Path) -> None:
    assert stack.aws is not None and stack.ctx is not None
    invoker = Invoker(stack.template, stack.ctx, stack.aws.function_env(), tmp_path)
    fn = stack.template.functions()[0].logical_id
    invoker.start([fn])
    pid = invoker.stats(fn)["pid"]
    invoker.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_route_list_is_read_from_the_template_when_the_gateway_starts(
    stack: LocalStack, template: Template
) -> None:
    assert stack.gateway is not None
    served = {c.route.route_key for c in stack.gateway.routes}
    assert served == {r.route_key for r in template.routes()}
    assert all(isinstance(r, Route) for r in template.routes())


def test_schedule_invokes_the_function_with_a_scheduled_event_when_the_timer_fires() -> None:
    # Given a Schedule source on a fast local timer
    seen: list[dict[str, Any]] = []
    source = ScheduleSource("Poller", "Every5Minutes", "rate(5 minutes)", None, enabled=True)
    pump = Pump(
        capture(seen, None),
        lambda s: None,
        [],
        {},
        {},
        schedule_sources=[source],
        schedule_seconds=0.05,
    ).start()
    try:
        # When the timer fires; Then the function gets EventBridge's scheduled-event shape
        event = wait_for(lambda: seen[0] if seen else None, "a scheduled invocation")
    finally:
        pump.stop()
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert {"id", "account", "time", "region", "resources", "detail"} <= set(event)


def test_invoke_command_prints_the_handler_result_when_given_an_event_file(
    stack: LocalStack, template: Template, tmp_path: Path, project_root: Path
) -> None:
    # Given a full HTTP API event for the webhook route with a wrong secret, as a file
    route = next(r for r in template.routes() if "{secret}" in r.path)
    path = route.path.replace("{secret}", "wrong-secret")
    event = Gateway(template.routes(), lambda fn, e: None).build_event(
        route,
        {"secret": "wrong-secret"},
        route.method,
        path,
        "",
        [("content-type", "application/json")],
        b'{"instanceId": "100001", "messages": []}',
        request_id="r1",
    )
    event_file = tmp_path / "bad_secret.json"
    event_file.write_text(json.dumps(event))
    # When `python -m devstack invoke` runs it (its own process: moto state is per process)
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "devstack", "invoke", route.function, str(event_file)],
        cwd=project_root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "ONEMSG_API_URL"},
    )
    # Then the real handler's answer is on stdout, and the logs went to stderr
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["statusCode"] == 401
    assert f"[{route.function}]" in done.stderr


# --------------------------------------------------------------------------- runtime
# A throwaway project with one tiny function shows the Lambda semantics of the workers
# without depending on the product's handlers.

TOY_TEMPLATE = """
Globals:
  Function:
    Timeout: 1
    Environment:
      Variables:
        FROM_GLOBALS: !Sub "${AWS::StackName}-g"
Resources:
  ToyFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      MemorySize: 192
  BrokenFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: broken/
      Handler: app.handler
"""
TOY_HANDLER = """
import os, time
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"pid": os.getpid(), "name": context.function_name, "arn": context.invoked_function_arn,
            "memory": context.memory_limit_in_mb, "left": context.get_remaining_time_in_millis(),
            "globals": os.environ.get("FROM_GLOBALS"), "leak": os.environ.get("LEAK_ME")}
"""


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Invoker]:
    root = tmp_path_factory.mktemp("toy")
    (root / "template.yaml").write_text(TOY_TEMPLATE)
    (root / "fn").mkdir()
    (root / "fn" / "app.py").write_text(TOY_HANDLER)
    (root / "broken").mkdir()
    (root / "broken" / "app.py").write_text("import no_such_module_here\n")
    template = Template.load(root)
    ctx = ResolveContext.for_template(template)
    shell = {"PATH": os.environ.get("PATH", ""), "LEAK_ME": "shell-value"}
    invoker = Invoker(template, ctx, {}, root / "logs", shell_env=shell)
    invoker.start(["ToyFunction"])
    yield invoker
    invoker.stop()


def test_handler_gets_a_lambda_context_and_only_its_env_when_invoked(toy: Invoker) -> None:
    result = toy.invoke("ToyFunction", {})
    assert result["name"] == "session-reply-local-ToyFunction"
    assert result["arn"].endswith(":function:session-reply-local-ToyFunction")
    assert result["memory"] == "192" and 0 < result["left"] <= 1000
    assert result["globals"] == "session-reply-local-g"
    assert result["leak"] is None


def test_concurrent_invocations_get_separate_environments_when_one_is_busy(toy: Invoker) -> None:
    pids: list[int] = []
    calls = [
        threading.Thread(
            target=lambda: pids.append(toy.invoke("ToyFunction", {"sleep": 0.3})["pid"])
        )
        for _ in range(2)
    ]
    for call in calls:
        call.start()
    for call in calls:
        call.join()
    assert len(set(pids)) == 2  # never two invocations in one interpreter
    assert toy.invoke("ToyFunction", {})["pid"] in pids  # and a warm one is reused


def test_invoke_raises_the_lambda_error_when_the_handler_raises(toy: Invoker) -> None:
    with pytest.raises(FunctionError) as error:
        toy.invoke("ToyFunction", {"fail": True})
    assert error.value.error_type == "ValueError"
    assert error.value.payload["errorMessage"] == "asked to fail"


def test_environment_is_replaced_when_an_invocation_times_out(toy: Invoker) -> None:
    before = toy.invoke("ToyFunction", {})["pid"]
    with pytest.raises(FunctionError) as error:
        toy.invoke("ToyFunction", {"sleep": 3})
    assert error.value.error_type == "Sandbox.Timedout"
    after = toy.invoke("ToyFunction", {})["pid"]
    # Then the environment that ran over is gone: the next call is served by another process
    assert after != before and before not in toy.stats("ToyFunction")["pids"]


def test_invoke_raises_an_import_error_when_the_handler_cannot_be_imported(toy: Invoker) -> None:
    with pytest.raises(FunctionError) as error:
        toy.invoke("BrokenFunction", {})
    assert error.value.error_type == "Runtime.ImportModuleError"
