"""template.yaml invariants that cfn-lint misses in a SAM template.

Each rule is a function that lists the problems it finds. Every rule is run twice: on the real
template (no problems allowed) and on a copy broken on purpose (the rule must notice), so no rule
can pass by looking at nothing.
"""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Callable
from typing import Any

import pytest

from devstack.template import PSEUDO_PARAMETERS, Template, references

Rule = Callable[[Template], list[str]]

# Attributes CloudFormation offers per type (the ones a template of this kind uses).
GETATT_ATTRIBUTES: dict[str, set[str]] = {
    "AWS::SQS::Queue": {"Arn", "QueueName", "QueueUrl"},
    "AWS::DynamoDB::Table": {"Arn", "StreamArn"},
    "AWS::Events::EventBus": {"Arn", "Name", "Policy"},
    "AWS::Logs::LogGroup": {"Arn"},
    "AWS::Serverless::Function": {"Arn"},
    "AWS::Serverless::HttpApi": {"ApiEndpoint", "ApiId"},
    "AWS::CloudWatch::Alarm": {"Arn"},
}
LAMBDA_PYTHON_RUNTIMES = {"python3.9", "python3.10", "python3.11", "python3.12", "python3.13"}
HTTP_API_MAX_TIMEOUT = 30  # API Gateway HTTP API ends the integration after 30 s
SECRET_ENV_NAME = re.compile(r"TOKEN|SECRET|PASSW|API_?KEY|PRIVATE|CREDENTIAL", re.I)
SECRET_LOOKING_VALUE = re.compile(
    r"^eyJ[\w-]{8,}\.[\w-]{8,}|^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9+/=_-]{32,}$"
)
ROUTE_PATH = re.compile(r"^(/([A-Za-z0-9._~@:-]+|\{[A-Za-z_][A-Za-z0-9_]*\+?\}))+$")


def _fifo_of(t: Template, logical_id: str) -> bool:
    return t.queue(logical_id).fifo


# --------------------------------------------------------------------------- rules


def unknown_references(t: Template) -> list[str]:
    """Every !Ref, !GetAtt and ${} (Globals, policies, outputs too) names something real."""
    names = set(t.parameters) | set(t.resources) | PSEUDO_PARAMETERS
    problems: list[str] = []
    sections = {k: t.data.get(k) for k in ("Globals", "Resources", "Outputs", "Conditions")}
    for section, value in sections.items():
        for kind, name, attribute in references(value):
            if name not in names:
                problems.append(f"{section}: {kind} {name} names nothing in the template")
            elif kind in ("GetAtt", "Sub") and attribute:
                rtype = str(t.resources.get(name, {}).get("Type"))
                known = GETATT_ATTRIBUTES.get(rtype)
                if known is not None and attribute not in known:
                    problems.append(f"{section}: {name}.{attribute}: {rtype} has no such attribute")
    for logical_id, res in t.resources.items():
        condition = res.get("Condition")
        if condition is not None and condition not in t.conditions:
            problems.append(f"{logical_id}: Condition {condition} is not defined")
    return problems


def missing_handlers(t: Template) -> list[str]:
    """Each function's CodeUri folder holds the Handler's module with that function."""
    problems: list[str] = []
    for fn in t.functions():
        module, _, attr = fn.handler.rpartition(".")
        source = t.root / fn.code_uri / (module.replace(".", "/") + ".py")
        if not source.is_file():
            problems.append(f"{fn.logical_id}: {source.relative_to(t.root)} does not exist")
            continue
        tree = ast.parse(source.read_text(encoding="utf-8"))
        defined = {
            node.name: node
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        if attr not in defined:
            problems.append(f"{fn.logical_id}: {source.name} defines no top-level {attr}()")
        elif len(defined[attr].args.args) != 2:
            problems.append(f"{fn.logical_id}: {attr}() must take (event, context)")
    return problems


def bad_routes(t: Template) -> list[str]:
    """HttpApi paths are valid and quoted, name an HttpApi by ApiId, and are unique."""
    problems: list[str] = []
    apis = t.of_type("AWS::Serverless::HttpApi")
    seen: set[str] = set()
    raw_paths = re.findall(r"^\s*Path:\s*(.+?)\s*$", t.path.read_text(encoding="utf-8"), re.M)
    for route in t.routes():
        if not ROUTE_PATH.match(route.path):
            problems.append(f"{route.function}.{route.event_name}: bad path {route.path!r}")
        if not (isinstance(route.api_id, dict) and route.api_id.get("Ref") in apis):
            problems.append(f"{route.function}.{route.event_name}: ApiId must !Ref an HttpApi")
        if route.method not in {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"}:
            problems.append(f"{route.function}.{route.event_name}: bad method {route.method}")
        if route.route_key in seen:
            problems.append(f"{route.route_key} is declared twice")
        seen.add(route.route_key)
    for raw in raw_paths:  # quoting is a property of the file's text, not of the parsed data
        if "{" in raw and not raw.startswith(('"', "'")):
            problems.append(f"Path {raw} must be quoted (an unquoted {{id}} breaks YAML)")
    webhook_path = t.output("WebhookPath")
    if webhook_path is not None and webhook_path not in {r.path for r in t.routes()}:
        problems.append(f"Outputs.WebhookPath {webhook_path} is not a route")
    return problems


def weak_fifo_sources(t: Template) -> list[str]:
    """FIFO consumers report partial failures and run at least two pollers; batches fit."""
    problems: list[str] = []
    for source in t.sqs_sources():
        fifo = _fifo_of(t, source.queue)
        if fifo and not source.report_batch_item_failures:
            problems.append(f"{source.function}: FIFO source without ReportBatchItemFailures")
        if fifo and (source.maximum_concurrency or 0) < 2:
            problems.append(f"{source.function}: FIFO source needs MaximumConcurrency >= 2")
        if not 1 <= source.batch_size <= (10 if fifo else 10_000):
            problems.append(f"{source.function}: impossible BatchSize {source.batch_size}")
    return problems


def short_visibility(t: Template) -> list[str]:
    """Each queue's VisibilityTimeout is at least 6 x its consumer's Timeout (AWS's advice)."""
    problems: list[str] = []
    for source in t.sqs_sources():
        timeout = t.function(source.function).timeout
        visibility = t.queue(source.queue).visibility_timeout
        if visibility < 6 * timeout:
            problems.append(
                f"{source.queue}: VisibilityTimeout {visibility} < 6 x {source.function} "
                f"Timeout {timeout}"
            )
    return problems


def missing_redrive(t: Template) -> list[str]:
    """A consumed queue redrives to a template DLQ that is FIFO exactly when the queue is."""
    problems: list[str] = []
    for source in {s.queue for s in t.sqs_sources()}:
        queue = t.queue(source)
        target = queue.redrive_target
        if target is None or target not in t.of_type("AWS::SQS::Queue"):
            problems.append(f"{source}: no RedrivePolicy to a dead-letter queue of the template")
            continue
        if (queue.max_receive_count or 0) < 1:
            problems.append(f"{source}: RedrivePolicy needs maxReceiveCount >= 1")
        if _fifo_of(t, target) != queue.fifo:
            problems.append(f"{source}: DLQ {target} must be FIFO iff the queue is")
    return problems


def unwatched_dlqs(t: Template) -> list[str]:
    """Every dead-letter queue has a CloudWatch alarm on its QueueName."""
    dlqs = {q.redrive_target for q in t.queues() if q.redrive_target}
    watched: set[str] = set()
    for alarm in t.of_type("AWS::CloudWatch::Alarm").values():
        props = alarm.get("Properties") or {}
        if props.get("Namespace") != "AWS/SQS":
            continue
        for dimension in props.get("Dimensions") or []:
            if dimension.get("Name") == "QueueName":
                watched.update(name for _, name, _ in references(dimension.get("Value")))
    return [f"{dlq}: dead-letter queue without an alarm" for dlq in sorted(dlqs - watched)]


def unretained_logs(t: Template) -> list[str]:
    """Each function logs to its own log group, and that group has a RetentionInDays."""
    problems: list[str] = []
    groups = t.of_type("AWS::Logs::LogGroup")
    used: dict[str, str] = {}
    for fn in t.functions():
        ref = fn.logging_config.get("LogGroup")
        lid = ref.get("Ref") if isinstance(ref, dict) else None
        if lid not in groups:
            problems.append(f"{fn.logical_id}: LoggingConfig.LogGroup must !Ref a LogGroup")
            continue
        if (groups[lid].get("Properties") or {}).get("RetentionInDays") is None:
            problems.append(f"{fn.logical_id}: log group {lid} keeps logs forever")
        if lid in used:
            problems.append(f"{fn.logical_id} shares log group {lid} with {used[lid]}")
        used[lid] = fn.logical_id
    return problems


def broad_policies(t: Template) -> list[str]:
    """No Resource "*", no wildcard actions, no *CrudPolicy / *FullAccess shortcuts."""
    problems: list[str] = []
    for fn in t.functions():
        for policy in fn.properties.get("Policies") or []:
            names = [policy] if isinstance(policy, str) else list(policy)
            for name in names:
                if str(name).endswith(("CrudPolicy", "FullAccess")):
                    problems.append(f"{fn.logical_id}: broad policy {name}")
            for statement in (policy.get("Statement") if isinstance(policy, dict) else None) or []:
                resources = statement.get("Resource")
                resources = resources if isinstance(resources, list) else [resources]
                if "*" in resources:
                    problems.append(f"{fn.logical_id}: a statement allows Resource '*'")
                actions = statement.get("Action")
                actions = actions if isinstance(actions, list) else [actions]
                if any(str(a) == "*" or str(a).endswith(":*") for a in actions):
                    problems.append(f"{fn.logical_id}: a statement allows a wildcard action")
    return problems


def secrets_in_env(t: Template) -> list[str]:
    """Env vars carry SSM parameter NAMES for secrets, never a secret value."""
    problems: list[str] = []
    for fn in t.functions():
        for name, value in fn.environment.items():
            if isinstance(value, str) and SECRET_LOOKING_VALUE.search(value):
                problems.append(f"{fn.logical_id}: {name} holds a value that looks like a secret")
            if not SECRET_ENV_NAME.search(name):
                continue
            ref = value.get("Ref") if isinstance(value, dict) else None
            if not name.endswith(("_PARAM", "_PARAMETER", "_PARAM_NAME")):
                problems.append(f"{fn.logical_id}: {name} must name an SSM parameter (*_PARAM)")
            if ref not in t.parameters:
                problems.append(f"{fn.logical_id}: {name} must !Ref a template parameter")
                continue
            default = str((t.parameters[ref] or {}).get("Default", "/"))
            if not default.startswith("/"):
                problems.append(f"{fn.logical_id}: {name} -> {ref} is not an SSM parameter name")
    return problems


def unreadable_secrets(t: Template) -> list[str]:
    """A function given a secret's parameter name may ssm:GetParameter exactly that name."""
    problems: list[str] = []
    for fn in t.functions():
        allowed: set[str] = set()
        for policy in fn.properties.get("Policies") or []:
            for statement in (policy.get("Statement") if isinstance(policy, dict) else None) or []:
                actions = statement.get("Action")
                actions = actions if isinstance(actions, list) else [actions]
                if {"ssm:GetParameter", "ssm:GetParameters"} & set(map(str, actions)):
                    allowed.update(n for _, n, _ in references(statement.get("Resource")))
        for name, value in fn.environment.items():
            ref = value.get("Ref") if isinstance(value, dict) else None
            if name.endswith("_PARAM") and ref in t.parameters and ref not in allowed:
                problems.append(f"{fn.logical_id}: may not ssm:GetParameter {ref} ({name})")
    return problems


def unrunnable_functions(t: Template) -> list[str]:
    """Runtimes Lambda has, timeouts API Gateway and Lambda allow, layers that fit."""
    problems: list[str] = []
    route_functions = {r.function for r in t.routes()}
    for fn in t.functions():
        runtime = str(fn.properties.get("Runtime"))
        if runtime not in LAMBDA_PYTHON_RUNTIMES:
            problems.append(f"{fn.logical_id}: Runtime {runtime} is not a Lambda Python runtime")
        if not 1 <= fn.timeout <= 900:
            problems.append(f"{fn.logical_id}: Timeout {fn.timeout} outside 1..900")
        if fn.logical_id in route_functions and fn.timeout > HTTP_API_MAX_TIMEOUT:
            problems.append(f"{fn.logical_id}: Timeout above the HTTP API's 30 s")
        arch = (fn.properties.get("Architectures") or ["x86_64"])[0]
        for layer in fn.layers:
            lid = layer.get("Ref") if isinstance(layer, dict) else None
            if lid not in t.of_type("AWS::Serverless::LayerVersion"):
                continue
            props = t.properties(lid)
            if runtime not in (props.get("CompatibleRuntimes") or [runtime]):
                problems.append(f"{fn.logical_id}: layer {lid} is not built for {runtime}")
            if arch not in (props.get("CompatibleArchitectures") or [arch]):
                problems.append(f"{fn.logical_id}: layer {lid} is not built for {arch}")
    return problems


RULES: list[Rule] = [
    unknown_references,
    missing_handlers,
    bad_routes,
    weak_fifo_sources,
    short_visibility,
    missing_redrive,
    unwatched_dlqs,
    unretained_logs,
    broad_policies,
    secrets_in_env,
    unreadable_secrets,
    unrunnable_functions,
]


# --------------------------------------------------------------------------- breakages
# Each breakage edits a copy of the template generically (first function, first consumed
# queue, ...), so the tests follow the template when resources are renamed or added.


def _first_fn(data: dict[str, Any]) -> dict[str, Any]:
    for res in data["Resources"].values():
        if res.get("Type") == "AWS::Serverless::Function":
            return dict(res["Properties"])
    raise AssertionError("the template has no function")


def _props(data: dict[str, Any], logical_id: str) -> dict[str, Any]:
    props: dict[str, Any] = data["Resources"][logical_id]["Properties"]
    return props


def _first_source(t: Template, data: dict[str, Any]) -> tuple[dict[str, Any], str]:
    source = t.sqs_sources()[0]
    event = _props(data, source.function)["Events"][source.event_name]["Properties"]
    return event, source.queue


def _break_global_ref(t: Template, data: dict[str, Any]) -> None:
    env = data["Globals"]["Function"]["Environment"]["Variables"]
    env[next(iter(env))] = {"Ref": "NoSuchTable"}


def _break_getatt_attribute(t: Template, data: dict[str, Any]) -> None:
    _, queue = _first_source(t, data)
    _props(data, t.sqs_sources()[0].function)["Environment"]["Variables"]["X"] = {
        "Fn::GetAtt": [queue, "Url"]
    }


def _break_policy_sub(t: Template, data: dict[str, Any]) -> None:
    fn = _props(data, t.functions()[0].logical_id)
    fn["Policies"][0]["Statement"][0]["Resource"] = {"Fn::Sub": "arn:aws:ssm:::${NoSuchParam}"}


def _break_handler(t: Template, data: dict[str, Any]) -> None:
    _props(data, t.functions()[0].logical_id)["Handler"] = "app.no_such_handler"


def _break_route_api(t: Template, data: dict[str, Any]) -> None:
    route = t.routes()[0]
    del _props(data, route.function)["Events"][route.event_name]["Properties"]["ApiId"]


def _break_route_path(t: Template, data: dict[str, Any]) -> None:
    route = t.routes()[0]
    _props(data, route.function)["Events"][route.event_name]["Properties"]["Path"] = "hooks/{x"


def _break_fifo_reporting(t: Template, data: dict[str, Any]) -> None:
    event, _ = _first_source(t, data)
    event.pop("FunctionResponseTypes", None)


def _break_concurrency(t: Template, data: dict[str, Any]) -> None:
    event, _ = _first_source(t, data)
    event["ScalingConfig"] = {"MaximumConcurrency": 1}


def _break_visibility(t: Template, data: dict[str, Any]) -> None:
    _, queue = _first_source(t, data)
    _props(data, queue)["VisibilityTimeout"] = t.function(t.sqs_sources()[0].function).timeout


def _break_redrive(t: Template, data: dict[str, Any]) -> None:
    _, queue = _first_source(t, data)
    del _props(data, queue)["RedrivePolicy"]


def _break_dlq_fifo(t: Template, data: dict[str, Any]) -> None:
    _, queue = _first_source(t, data)
    dlq = t.queue(queue).redrive_target
    assert dlq is not None
    _props(data, dlq)["FifoQueue"] = not t.queue(dlq).fifo


def _break_alarm(t: Template, data: dict[str, Any]) -> None:
    for lid in list(t.of_type("AWS::CloudWatch::Alarm")):
        del data["Resources"][lid]


def _break_retention(t: Template, data: dict[str, Any]) -> None:
    for lid in t.of_type("AWS::Logs::LogGroup"):
        _props(data, lid).pop("RetentionInDays", None)


def _break_resource_star(t: Template, data: dict[str, Any]) -> None:
    _props(data, t.functions()[0].logical_id)["Policies"][0]["Statement"][0]["Resource"] = "*"


def _break_crud_policy(t: Template, data: dict[str, Any]) -> None:
    fn = _props(data, t.functions()[0].logical_id)
    fn["Policies"].append({"DynamoDBCrudPolicy": {"TableName": "x"}})


def _break_secret_value(t: Template, data: dict[str, Any]) -> None:
    _props(data, t.functions()[0].logical_id)["Environment"]["Variables"]["ONEMSG_TOKEN"] = (
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMDAwMDEifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    )


def _break_ssm_permission(t: Template, data: dict[str, Any]) -> None:
    for fn in t.functions():
        for policy in _props(data, fn.logical_id).get("Policies") or []:
            statements = policy.get("Statement") if isinstance(policy, dict) else None
            if statements:
                statements[:] = [
                    s for s in statements if "ssm:GetParameter" not in (s.get("Action") or [])
                ]


def _break_runtime(t: Template, data: dict[str, Any]) -> None:
    data["Globals"]["Function"]["Runtime"] = "python3.1"


BREAKAGES: list[tuple[Rule, Callable[[Template, dict[str, Any]], None]]] = [
    (unknown_references, _break_global_ref),
    (unknown_references, _break_getatt_attribute),
    (unknown_references, _break_policy_sub),
    (missing_handlers, _break_handler),
    (bad_routes, _break_route_api),
    (bad_routes, _break_route_path),
    (weak_fifo_sources, _break_fifo_reporting),
    (weak_fifo_sources, _break_concurrency),
    (short_visibility, _break_visibility),
    (missing_redrive, _break_redrive),
    (missing_redrive, _break_dlq_fifo),
    (unwatched_dlqs, _break_alarm),
    (unretained_logs, _break_retention),
    (broad_policies, _break_resource_star),
    (broad_policies, _break_crud_policy),
    (secrets_in_env, _break_secret_value),
    (unreadable_secrets, _break_ssm_permission),
    (unrunnable_functions, _break_runtime),
]


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
def test_template_has_no_problems_when_checked_by(template: Template, rule: Rule) -> None:
    # Given the project's template.yaml; When the rule reads it; Then it finds nothing.
    assert rule(template) == []


@pytest.mark.parametrize(
    ("rule", "breakage"), BREAKAGES, ids=[b.__name__.removeprefix("_") for _, b in BREAKAGES]
)
def test_rule_reports_a_problem_when_the_template_is_broken(
    template: Template, rule: Rule, breakage: Callable[[Template, dict[str, Any]], None]
) -> None:
    # Given a copy of the template broken in one way
    data = copy.deepcopy(template.data)
    breakage(template, data)
    # When the rule reads it; Then it reports the breakage
    assert rule(template.with_data(data)) != []


def test_template_declares_what_the_local_stack_needs_when_it_runs(template: Template) -> None:
    # The local stack finds everything through the template: at least one route, one SQS
    # consumer, one table, the secret parameters it fills and the output it registers.
    assert template.routes()
    assert template.sqs_sources()
    assert template.tables()
    assert {"OneMsgTokenParameter", "WebhookSecretParameter"} <= set(template.parameters)
    assert "{secret}" in str(template.output("WebhookPath"))
