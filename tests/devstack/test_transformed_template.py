"""What CloudFormation gets: the real SAM transform of template.yaml, checked where it matters.

`scripts/sam_transform.py` runs the translator CloudFormation runs at deploy time (from the SAM
CLI's venv, offline). A template it refuses cannot deploy, so these tests read its output, not
the SAM source: the routes' authorizers, each function's log group and role, the permissions the
code really uses (recorded while the sample events run through the real handlers), and the send
queue's redrive and visibility as the README states them.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient
from session_reply.settings import Settings

from tests.conftest import Stack
from tests.devstack.story import run_story

ROOT = Path(__file__).resolve().parents[2]
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
SCRIPT = ROOT / "scripts" / "sam_transform.py"
WEBHOOK_ROUTE = ("/hooks/1msg/{secret}", "post")
LEAD_ROUTES = [("/leads/{chatId}", "get"), ("/leads/{chatId}/messages", "post")]


def _transform(template: Path) -> subprocess.CompletedProcess[str]:
    if not SAM_PYTHON.exists():
        pytest.skip(f"no SAM CLI venv at {SAM_PYTHON.relative_to(ROOT)}: run make setup")
    return subprocess.run(  # noqa: S603 - our own script, fixed argv
        [str(SAM_PYTHON), str(SCRIPT), str(template)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    done = _transform(ROOT / "template.yaml")
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def _of_type(cfn: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in cfn["Resources"].items() if v["Type"] == rtype}


def _operation(cfn: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    (api,) = _of_type(cfn, "AWS::ApiGatewayV2::Api").values()
    operation: dict[str, Any] = api["Properties"]["Body"]["paths"][path][method]
    return operation


# --------------------------------------------------------------------------- the gate


def test_transform_refuses_the_template_when_iam_routes_have_no_iam_authorizer(
    tmp_path: Path,
) -> None:
    # Given the template as it was before: AWS_IAM on routes, no EnableIamAuthorizer on the API
    source = (ROOT / "template.yaml").read_text(encoding="utf-8")
    broken = source.replace("      Auth:\n        EnableIamAuthorizer: true\n", "")
    assert broken != source
    (tmp_path / "template.yaml").write_text(broken, encoding="utf-8")

    # When the real translator runs on it, then it refuses, as CloudFormation would
    done = _transform(tmp_path / "template.yaml")
    assert done.returncode == 1
    assert "does not define any Authorizers" in done.stderr


# --------------------------------------------------------------------------- the routes


def test_webhook_route_has_no_authorizer_when_transformed(cfn: dict[str, Any]) -> None:
    # 1MSG cannot sign requests: the secret in the path is the webhook's authentication
    assert "security" not in _operation(cfn, *WEBHOOK_ROUTE)


@pytest.mark.parametrize(("path", "method"), LEAD_ROUTES)
def test_lead_routes_require_sigv4_when_transformed(
    cfn: dict[str, Any], path: str, method: str
) -> None:
    assert _operation(cfn, path, method)["security"] == [{"AWS_IAM": []}]
    (api,) = _of_type(cfn, "AWS::ApiGatewayV2::Api").values()
    scheme = api["Properties"]["Body"]["components"]["securitySchemes"]["AWS_IAM"]
    assert scheme["x-amazon-apigateway-authtype"] == "awsSigv4"


def test_every_route_reaches_a_function_allowed_to_be_invoked_when_transformed(
    cfn: dict[str, Any],
) -> None:
    permissions = _of_type(cfn, "AWS::Lambda::Permission")
    for path, method in [WEBHOOK_ROUTE, *LEAD_ROUTES]:
        uri = _operation(cfn, path, method)["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
        function = re.search(r"functions/\$\{(\w+?)(?:\.Arn)?\}/invocations", uri)
        assert function, uri
        allowed = [
            p
            for p in permissions.values()
            if p["Properties"]["FunctionName"] == {"Ref": function.group(1)}
            and p["Properties"]["Principal"] == "apigateway.amazonaws.com"
        ]
        assert allowed, f"{method.upper()} {path}: API Gateway may not invoke {function.group(1)}"


# --------------------------------------------------------------------------- functions


def test_every_event_source_invokes_the_published_alias_when_transformed(
    cfn: dict[str, Any],
) -> None:
    # SnapStart restores published versions only: the API, the queue and the schedule must
    # invoke the `live` alias, never $LATEST.
    aliases = _of_type(cfn, "AWS::Lambda::Alias")
    functions = _of_type(cfn, "AWS::Lambda::Function")
    assert {a["Properties"]["FunctionName"]["Ref"] for a in aliases.values()} == set(functions)
    assert all(a["Properties"]["Name"] == "live" for a in aliases.values())
    targets = [
        p["Properties"]["FunctionName"] for p in _of_type(cfn, "AWS::Lambda::Permission").values()
    ]
    targets += [
        m["Properties"]["FunctionName"]
        for m in _of_type(cfn, "AWS::Lambda::EventSourceMapping").values()
    ]
    targets += [
        t["Arn"]
        for r in _of_type(cfn, "AWS::Events::Rule").values()
        for t in r["Properties"]["Targets"]
    ]
    assert targets and all(t.get("Ref") in aliases for t in targets), targets


def test_snapstart_follows_its_parameter_on_every_function_when_transformed(
    cfn: dict[str, Any],
) -> None:
    for logical_id, fn in _of_type(cfn, "AWS::Lambda::Function").items():
        assert fn["Properties"]["SnapStart"] == {"ApplyOn": {"Ref": "SnapStart"}}, logical_id
    assert cfn["Parameters"]["SnapStart"]["Default"] == "None"  # opt-in


def test_every_function_logs_to_its_own_retained_group_when_transformed(
    cfn: dict[str, Any],
) -> None:
    groups = _of_type(cfn, "AWS::Logs::LogGroup")
    used = []
    for logical_id, fn in _of_type(cfn, "AWS::Lambda::Function").items():
        ref = fn["Properties"].get("LoggingConfig", {}).get("LogGroup", {}).get("Ref")
        assert ref in groups, f"{logical_id} has no log group of the stack"
        assert "RetentionInDays" in groups[ref]["Properties"], f"{ref} keeps logs forever"
        used.append(ref)
    assert len(set(used)) == len(used), "two functions share a log group"


def test_every_function_has_a_role_lambda_can_assume_when_transformed(
    cfn: dict[str, Any],
) -> None:
    roles = _of_type(cfn, "AWS::IAM::Role")
    for logical_id, fn in _of_type(cfn, "AWS::Lambda::Function").items():
        role_id = fn["Properties"]["Role"]["Fn::GetAtt"][0]
        assert role_id in roles, logical_id
        (statement,) = roles[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Service": ["lambda.amazonaws.com"]}
        managed = roles[role_id]["Properties"].get("ManagedPolicyArns", [])
        assert any(str(arn).endswith("/AWSLambdaBasicExecutionRole") for arn in managed)


# --------------------------------------------------------------------------- the send queue


def test_send_queue_redrives_and_outlives_its_consumer_as_the_readme_states_when_transformed(
    cfn: dict[str, Any],
) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    stated = re.search(r"DLQ \+ alarm after (\d+) tries", readme)
    assert stated, "the README no longer states the send queue's retries"
    queue = cfn["Resources"]["SendQueue"]["Properties"]
    dlq = cfn["Resources"]["SendDeadLetterQueue"]["Properties"]
    sender = cfn["Resources"]["SenderFunction"]["Properties"]
    (mapping,) = _of_type(cfn, "AWS::Lambda::EventSourceMapping").values()

    assert queue["FifoQueue"] is True and dlq["FifoQueue"] is True  # a FIFO queue's DLQ is FIFO
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["SendDeadLetterQueue", "Arn"]
    }
    # The sender dead-letters a send after its own tries; SQS's count of receives (burst
    # waits and turns behind another record of the chat cost receives too) is the backstop.
    assert Settings().send_max_attempts == int(stated.group(1))
    assert queue["RedrivePolicy"]["maxReceiveCount"] > 2 * int(stated.group(1))
    # AWS: a queue's visibility at least six times its consumer's timeout
    assert queue["VisibilityTimeout"] >= 6 * sender["Timeout"]
    assert dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]
    assert mapping["Properties"]["EventSourceArn"] == {"Fn::GetAtt": ["SendQueue", "Arn"]}
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


# --------------------------------------------------------------------------- permissions


def _statements(cfn: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for logical_id, role in _of_type(cfn, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                yield logical_id, statement


def test_sender_may_invoke_the_bedrock_model_only_when_the_subject_extractor_is_bedrock(
    cfn: dict[str, Any],
) -> None:
    # The setting reaches the sender, rules by default
    assert cfn["Parameters"]["SubjectExtractor"]["Default"] == "rules"
    env = cfn["Resources"]["SenderFunction"]["Properties"]["Environment"]["Variables"]
    assert env["SUBJECT_EXTRACTOR"] == {"Ref": "SubjectExtractor"}
    assert env["BEDROCK_MODEL_ID"] == {"Ref": "BedrockModelId"}
    assert cfn["Conditions"]["UsesBedrock"] == {
        "Fn::Equals": [{"Ref": "SubjectExtractor"}, "bedrock"]
    }
    # Every statement naming Bedrock is the sender's, and exists only under the condition
    bedrock = [(role, st) for role, st in _statements(cfn) if "bedrock" in json.dumps(st)]
    assert {role for role, _ in bedrock} == {"SenderFunctionRole"}
    granted = []
    for _, statement in bedrock:
        condition, allowed, otherwise = statement["Fn::If"]
        assert (condition, otherwise) == ("UsesBedrock", {"Ref": "AWS::NoValue"})
        assert allowed["Effect"] == "Allow" and allowed["Action"] == ["bedrock:InvokeModel"]
        resources = allowed["Resource"]
        granted += [
            (r["Fn::Sub"], json.dumps(allowed.get("Condition")))
            for r in (resources if isinstance(resources, list) else [resources])
        ]
    region = "arn:${AWS::Partition}:bedrock:${AWS::Region}"
    profile = f"{region}:${{AWS::AccountId}}:inference-profile/${{BedrockModelId}}"
    # The model by its id, as a foundation model or an inference profile ...
    assert (f"{region}::foundation-model/${{BedrockModelId}}", "null") in granted
    assert (profile, "null") in granted
    # ... and the profile's foundation models only through that profile
    through = json.dumps({"StringEquals": {"bedrock:InferenceProfileArn": {"Fn::Sub": profile}}})
    assert ("arn:${AWS::Partition}:bedrock:*::foundation-model/*", through) in granted
    assert len(granted) == 3


# The IAM action each DynamoDB transaction item needs (TransactWriteItems is not enough).
TRANSACT_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
_function: contextvars.ContextVar[str] = contextvars.ContextVar("function", default="")


def _needs(service: str, operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """(IAM action, resource name) pairs one API call needs."""
    if service == "dynamodb" and operation == "TransactWriteItems":
        return [
            (f"dynamodb:{TRANSACT_ITEM_ACTIONS[kind]}", body["TableName"])
            for item in params["TransactItems"]
            for kind, body in item.items()
        ]
    if service == "dynamodb" and operation == "BatchGetItem":
        return [(f"dynamodb:{operation}", table) for table in params["RequestItems"]]
    if service == "dynamodb":
        table = params["TableName"]
        index = params.get("IndexName")
        return [(f"dynamodb:{operation}", f"{table}/index/{index}" if index else table)]
    resource = {
        "sqs": lambda: params["QueueUrl"].rsplit("/", 1)[-1],
        "events": lambda: params["Entries"][0].get("EventBusName", "default"),
        "ssm": lambda: params["Name"],
    }[service]()
    return [(f"{service}:{operation}", resource)]


@pytest.fixture
def calls_by_function(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> dict[str, set[tuple[str, str]]]:
    """Every AWS call each function's handler makes while the sample events run through it."""
    recorded: dict[str, set[tuple[str, str]]] = {}
    original = BaseClient._make_api_call

    def recording(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        function = _function.get()
        if function:
            service = self.meta.service_model.service_name
            recorded.setdefault(function, set()).update(_needs(service, operation, params))
        return original(self, operation, params)

    @contextlib.contextmanager
    def inside(function: str) -> Iterator[None]:
        token = _function.set(function)
        try:
            yield
        finally:
            _function.reset(token)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    for _step in run_story(stack, around=inside):
        pass
    return recorded


def _resource_names(resource: Any, cfn: dict[str, Any], physical: dict[str, str]) -> set[str]:
    """The local names a policy statement's Resource covers (resolved as the local stack names
    them)."""
    resources = resource if isinstance(resource, list) else [resource]
    names: set[str] = set()
    params = {k: v.get("Default") for k, v in cfn.get("Parameters", {}).items()}
    for item in resources:
        if isinstance(item, dict) and "Fn::GetAtt" in item:
            names.add(physical[item["Fn::GetAtt"][0]])
        elif isinstance(item, dict) and "Fn::Sub" in item:
            text = item["Fn::Sub"]
            index = re.fullmatch(r"\$\{(\w+)\.Arn\}/index/(\w+)", text)
            parameter = re.search(r":parameter\$\{(\w+)\}$", text)
            if index:
                names.add(f"{physical[index.group(1)]}/index/{index.group(2)}")
            elif parameter:
                names.add(str(params[parameter.group(1)]))
        elif item == "*":
            names.add("*")
    return names


def test_each_role_allows_every_call_its_code_makes_when_the_sample_events_run(
    cfn: dict[str, Any], stack: Stack, calls_by_function: dict[str, set[tuple[str, str]]]
) -> None:
    physical = {
        logical_id: stack.aws.ctx.physical_name(logical_id)
        for logical_id in ("StateTable", "IdempotencyTable", "SendQueue", "EventBus")
    }
    for queue in ("SendQueue", "SendDeadLetterQueue"):
        physical[queue] = stack.aws.queue_urls[queue].rsplit("/", 1)[-1]
    assert set(calls_by_function) == {
        "WebhookFunction",
        "SenderFunction",
        "ManagerApiFunction",
        "StatusPollerFunction",
    }
    missing = []
    for function, needs in sorted(calls_by_function.items()):
        role_id = cfn["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0]
        allowed: set[tuple[str, str]] = set()
        for policy in cfn["Resources"][role_id]["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                if statement.get("Effect") != "Allow":
                    continue
                actions = statement["Action"]
                for action in actions if isinstance(actions, list) else [actions]:
                    for name in _resource_names(statement["Resource"], cfn, physical):
                        allowed.add((action, name))
        for action, name in sorted(needs):
            if (action, name) not in allowed and (action, "*") not in allowed:
                missing.append(f"{function}: {action} on {name}")
    assert missing == [], "\n".join(missing)


def test_recording_notices_a_call_no_role_allows_when_a_statement_is_removed(
    cfn: dict[str, Any], stack: Stack, calls_by_function: dict[str, set[tuple[str, str]]]
) -> None:
    # The check above must be able to fail: the webhook's only PutEvents grant, removed
    cfn = copy.deepcopy(cfn)
    role = cfn["Resources"]["WebhookFunctionRole"]["Properties"]
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    role["Policies"][0]["PolicyDocument"]["Statement"] = [
        s for s in statements if s["Action"] != ["events:PutEvents"]
    ]
    assert any(action == "events:PutEvents" for action, _ in calls_by_function["WebhookFunction"])
    with pytest.raises(AssertionError, match="WebhookFunction: events:PutEvents"):
        test_each_role_allows_every_call_its_code_makes_when_the_sample_events_run(
            cfn, stack, calls_by_function
        )
