"""Read template.yaml, the single source of truth, into the shapes the local stack needs.

Nothing in the local stack names a table, queue, route or env var on its own: it asks this
module. The loader understands the CloudFormation short tags (``!Ref``, ``!GetAtt``, ``!Sub``,
...) so that the template parses exactly as CloudFormation reads it, and `resolve` turns the
intrinsic functions into the local stack's physical names, ARNs and URLs.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

LOCAL_STACK_NAME = "session-reply-local"
DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account
PSEUDO_PARAMETERS = frozenset(
    {
        "AWS::AccountId",
        "AWS::NotificationARNs",
        "AWS::NoValue",
        "AWS::Partition",
        "AWS::Region",
        "AWS::StackId",
        "AWS::StackName",
        "AWS::URLSuffix",
    }
)

# ---------------------------------------------------------------------------
# YAML: CloudFormation short tags become the long form dicts CloudFormation uses.
# ---------------------------------------------------------------------------


class CfnLoader(yaml.SafeLoader):
    """A SafeLoader that reads ``!Tag value`` as ``{"Fn::Tag": value}`` (``!Ref`` as ``Ref``)."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - yaml has no other node kinds
        raise yaml.constructor.ConstructorError(None, None, f"bad node for !{tag_suffix}")
    if tag_suffix in ("Ref", "Condition"):
        return {tag_suffix: value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        logical_id, _, attribute = value.partition(".")
        value = [logical_id, attribute]
    return {f"Fn::{tag_suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_tag)


def load_yaml(text: str) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template body."""
    data = yaml.load(text, Loader=CfnLoader)  # noqa: S506 - CfnLoader is a SafeLoader
    if not isinstance(data, dict):
        raise ValueError("template.yaml is not a mapping")
    return data


# ---------------------------------------------------------------------------
# Typed views of what the local stack runs.
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One HttpApi event: the gateway serves it and maps it to its function."""

    function: str
    event_name: str
    method: str  # upper case; "ANY" matches every method
    path: str  # as in the template, e.g. "/leads/{chatId}"
    iam_auth: bool
    api_id: Any

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"


@dataclass(frozen=True)
class SqsSource:
    """One SQS event source mapping: the pump polls the queue and invokes the function."""

    function: str
    event_name: str
    queue: str  # logical id of the queue
    batch_size: int
    report_batch_item_failures: bool
    maximum_concurrency: int | None
    enabled: bool = True


@dataclass(frozen=True)
class ScheduleSource:
    """A Schedule / ScheduleV2 event: the pump invokes the function on a local timer."""

    function: str
    event_name: str
    schedule: str
    input: str | None
    enabled: bool


@dataclass(frozen=True)
class FunctionSpec:
    """An AWS::Serverless::Function with Globals merged in, as SAM would deploy it."""

    logical_id: str
    code_uri: str
    handler: str
    environment: dict[str, Any]
    timeout: int
    memory_size: int
    events: dict[str, Any]
    layers: list[Any]
    logging_config: dict[str, Any]
    properties: dict[str, Any]

    @property
    def folder(self) -> str:
        """The function's folder name, e.g. ``webhook`` for ``functions/webhook/``."""
        return Path(self.code_uri.rstrip("/")).name


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    properties: dict[str, Any]

    @property
    def key_schema(self) -> list[dict[str, str]]:
        return list(self.properties.get("KeySchema", []))

    @property
    def global_secondary_indexes(self) -> list[dict[str, Any]]:
        return list(self.properties.get("GlobalSecondaryIndexes", []))

    @property
    def ttl_attribute(self) -> str | None:
        ttl = self.properties.get("TimeToLiveSpecification") or {}
        if ttl.get("Enabled") in (True, "true", "True"):
            return str(ttl["AttributeName"])
        return None


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    properties: dict[str, Any]

    @property
    def fifo(self) -> bool:
        return self.properties.get("FifoQueue") in (True, "true", "True")

    @property
    def visibility_timeout(self) -> int:
        return int(self.properties.get("VisibilityTimeout", 30))

    @property
    def redrive_target(self) -> str | None:
        """Logical id of the dead-letter queue, when the redrive names one by !GetAtt."""
        target = (self.properties.get("RedrivePolicy") or {}).get("deadLetterTargetArn")
        if isinstance(target, dict) and "Fn::GetAtt" in target:
            return str(target["Fn::GetAtt"][0])
        return None

    @property
    def max_receive_count(self) -> int | None:
        policy = self.properties.get("RedrivePolicy") or {}
        return int(policy["maxReceiveCount"]) if "maxReceiveCount" in policy else None


@dataclass(frozen=True)
class BusSpec:
    logical_id: str
    properties: dict[str, Any]


class Template:
    """template.yaml, parsed once, with the helpers the local stack and the tests need."""

    def __init__(self, path: Path, data: dict[str, Any] | None = None) -> None:
        self.path = path.resolve()
        self.root = self.path.parent
        self.data = load_yaml(self.path.read_text(encoding="utf-8")) if data is None else data
        self.resources: dict[str, dict[str, Any]] = dict(self.data.get("Resources") or {})
        self.globals: dict[str, Any] = dict(self.data.get("Globals") or {})
        self.outputs: dict[str, Any] = dict(self.data.get("Outputs") or {})
        self.conditions: dict[str, Any] = dict(self.data.get("Conditions") or {})
        self.mappings: dict[str, Any] = dict(self.data.get("Mappings") or {})

    @classmethod
    def load(cls, root: Path) -> Template:
        return cls(root / "template.yaml")

    def with_data(self, data: dict[str, Any]) -> Template:
        """The same project with other template contents (the tests' broken copies)."""
        return Template(self.path, data)

    # -- parameters ---------------------------------------------------------------------
    @property
    def parameters(self) -> dict[str, dict[str, Any]]:
        return dict(self.data.get("Parameters") or {})

    def parameter_defaults(self) -> dict[str, str | None]:
        """Each parameter's default as CloudFormation passes it (a string), None if required."""
        out: dict[str, str | None] = {}
        for name, spec in self.parameters.items():
            default = (spec or {}).get("Default")
            out[name] = None if default is None else _cfn_str(default)
        return out

    # -- resources by type --------------------------------------------------------------
    def of_type(self, *types: str) -> dict[str, dict[str, Any]]:
        return {lid: res for lid, res in self.resources.items() if res.get("Type") in types}

    def properties(self, logical_id: str) -> dict[str, Any]:
        return dict(self.resources[logical_id].get("Properties") or {})

    def functions(self) -> list[FunctionSpec]:
        glob = dict(self.globals.get("Function") or {})
        specs: list[FunctionSpec] = []
        for logical_id in self.of_type("AWS::Serverless::Function"):
            props = self.properties(logical_id)
            merged = {**glob, **props}
            env = dict(((glob.get("Environment") or {}).get("Variables")) or {})
            env.update(((props.get("Environment") or {}).get("Variables")) or {})
            logging_config = {
                **(glob.get("LoggingConfig") or {}),
                **(props.get("LoggingConfig") or {}),
            }
            layers = list(glob.get("Layers") or []) + list(props.get("Layers") or [])
            specs.append(
                FunctionSpec(
                    logical_id=logical_id,
                    code_uri=str(merged.get("CodeUri", "")),
                    handler=str(merged.get("Handler", "")),
                    environment=env,
                    timeout=int(merged.get("Timeout", 3)),
                    memory_size=int(merged.get("MemorySize", 128)),
                    events=dict(props.get("Events") or {}),
                    layers=layers,
                    logging_config=logging_config,
                    properties=merged,
                )
            )
        return specs

    def function(self, logical_id: str) -> FunctionSpec:
        for spec in self.functions():
            if spec.logical_id == logical_id:
                return spec
        known = ", ".join(f.logical_id for f in self.functions())
        raise KeyError(f"{logical_id} is not a function in template.yaml (known: {known})")

    def routes(self) -> list[Route]:
        """Every HttpApi event, with its effective auth (route Auth, else the API's default)."""
        routes: list[Route] = []
        for fn in self.functions():
            for name, event in fn.events.items():
                if event.get("Type") != "HttpApi":
                    continue
                props = dict(event.get("Properties") or {})
                api_id = props.get("ApiId")
                authorizer = (props.get("Auth") or {}).get("Authorizer")
                if authorizer is None:
                    authorizer = self._default_http_authorizer(api_id)
                routes.append(
                    Route(
                        function=fn.logical_id,
                        event_name=name,
                        method=str(props.get("Method", "ANY")).upper(),
                        path=str(props.get("Path", "$default")),
                        iam_auth=authorizer == "AWS_IAM",
                        api_id=api_id,
                    )
                )
        return routes

    def _default_http_authorizer(self, api_id: Any) -> str | None:
        auth: dict[str, Any] = dict((self.globals.get("HttpApi") or {}).get("Auth") or {})
        if isinstance(api_id, dict) and api_id.get("Ref") in self.resources:
            auth.update((self.properties(str(api_id["Ref"])).get("Auth")) or {})
        default = auth.get("DefaultAuthorizer")
        return None if default is None else str(default)

    def sqs_sources(self) -> list[SqsSource]:
        sources: list[SqsSource] = []
        for fn in self.functions():
            for name, event in fn.events.items():
                if event.get("Type") != "SQS":
                    continue
                props = dict(event.get("Properties") or {})
                sources.append(
                    SqsSource(
                        function=fn.logical_id,
                        event_name=name,
                        queue=_logical_id_of(props.get("Queue")),
                        batch_size=int(props.get("BatchSize", 10)),
                        report_batch_item_failures="ReportBatchItemFailures"
                        in (props.get("FunctionResponseTypes") or []),
                        maximum_concurrency=(
                            int(props["ScalingConfig"]["MaximumConcurrency"])
                            if "MaximumConcurrency" in (props.get("ScalingConfig") or {})
                            else None
                        ),
                        enabled=props.get("Enabled", True) not in (False, "false", "False"),
                    )
                )
        return sources

    def schedule_sources(self) -> list[ScheduleSource]:
        sources: list[ScheduleSource] = []
        for fn in self.functions():
            for name, event in fn.events.items():
                if event.get("Type") not in ("Schedule", "ScheduleV2"):
                    continue
                props = dict(event.get("Properties") or {})
                enabled = props.get("Enabled", True) not in (False, "false", "False")
                if str(props.get("State", "ENABLED")).upper() == "DISABLED":
                    enabled = False
                raw_input = props.get("Input")
                sources.append(
                    ScheduleSource(
                        function=fn.logical_id,
                        event_name=name,
                        schedule=str(props.get("Schedule") or props.get("ScheduleExpression")),
                        input=None if raw_input is None else str(raw_input),
                        enabled=enabled,
                    )
                )
        return sources

    def tables(self) -> list[TableSpec]:
        return [
            TableSpec(lid, self.properties(lid))
            for lid in self.of_type("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable")
        ]

    def queues(self) -> list[QueueSpec]:
        return [QueueSpec(lid, self.properties(lid)) for lid in self.of_type("AWS::SQS::Queue")]

    def queue(self, logical_id: str) -> QueueSpec:
        return QueueSpec(logical_id, self.properties(logical_id))

    def event_buses(self) -> list[BusSpec]:
        return [BusSpec(lid, self.properties(lid)) for lid in self.of_type("AWS::Events::EventBus")]

    def layer_dirs(self, fn: FunctionSpec) -> list[Path]:
        """Folders of the function's layers that are built from this template (ContentUri)."""
        dirs: list[Path] = []
        for layer in fn.layers:
            lid = layer.get("Ref") if isinstance(layer, dict) else None
            if lid in self.resources:
                uri = self.properties(str(lid)).get("ContentUri")
                if isinstance(uri, str):
                    dirs.append(self.root / uri)
        return dirs

    def output(self, name: str) -> Any:
        return (self.outputs.get(name) or {}).get("Value")


def _logical_id_of(value: Any) -> str:
    """The logical id in ``!GetAtt X.Arn`` or ``!Ref X``."""
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
        if "Ref" in value:
            return str(value["Ref"])
    raise ValueError(f"expected !GetAtt or !Ref to a resource, got {value!r}")


def _cfn_str(value: Any) -> str:
    """CloudFormation passes every parameter value as a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_cfn_str(v) for v in value)
    return str(value)


# ---------------------------------------------------------------------------
# Intrinsic functions.
# ---------------------------------------------------------------------------

_ARN_FORMATS: dict[str, str] = {
    "AWS::DynamoDB::Table": "arn:{p}:dynamodb:{r}:{a}:table/{name}",
    "AWS::Serverless::SimpleTable": "arn:{p}:dynamodb:{r}:{a}:table/{name}",
    "AWS::SQS::Queue": "arn:{p}:sqs:{r}:{a}:{name}",
    "AWS::Events::EventBus": "arn:{p}:events:{r}:{a}:event-bus/{name}",
    "AWS::Logs::LogGroup": "arn:{p}:logs:{r}:{a}:log-group:{name}:*",
    "AWS::Serverless::Function": "arn:{p}:lambda:{r}:{a}:function:{name}",
    "AWS::Lambda::Function": "arn:{p}:lambda:{r}:{a}:function:{name}",
    "AWS::SNS::Topic": "arn:{p}:sns:{r}:{a}:{name}",
}

# Properties that hold a resource's own name, when the template sets one.
_NAME_PROPERTIES: dict[str, str] = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Serverless::SimpleTable": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::Events::EventBus": "Name",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Serverless::LayerVersion": "LayerName",
}


@dataclass
class ResolveContext:
    """What `resolve` needs: parameter values, pseudo parameters and the physical names.

    ``refs`` overrides what ``!Ref`` returns for a resource (an SQS queue's Ref is its URL,
    which only the running SQS endpoint knows); the rest follows CloudFormation's rules.
    """

    template: Template
    parameters: dict[str, str]
    stack_name: str = LOCAL_STACK_NAME
    region: str = "us-east-1"
    account_id: str = DEFAULT_ACCOUNT_ID
    partition: str = "aws"
    url_suffix: str = "amazonaws.com"
    refs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_template(
        cls,
        template: Template,
        overrides: Mapping[str, str] | None = None,
        *,
        region: str = "us-east-1",
    ) -> ResolveContext:
        params = {k: v for k, v in template.parameter_defaults().items() if v is not None}
        params.update(overrides or {})
        return cls(template=template, parameters=params, region=region)

    def pseudo(self, name: str) -> str:
        values = {
            "AWS::StackName": self.stack_name,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": self.url_suffix,
            "AWS::StackId": (
                f"arn:{self.partition}:cloudformation:{self.region}:{self.account_id}"
                f":stack/{self.stack_name}/00000000-0000-0000-0000-000000000000"
            ),
        }
        if name not in values:
            raise KeyError(f"pseudo parameter {name} has no local value")
        return values[name]

    def physical_name(self, logical_id: str) -> str:
        """The resource's own name: its name property if set, else ``<stack>-<LogicalId>``."""
        res = self.template.resources[logical_id]
        rtype = str(res.get("Type"))
        props = dict(res.get("Properties") or {})
        prop = _NAME_PROPERTIES.get(rtype)
        if prop and props.get(prop) is not None:
            return str(resolve(props[prop], self))
        name = f"{self.stack_name}-{logical_id}"
        if rtype == "AWS::SQS::Queue" and props.get("FifoQueue") in (True, "true", "True"):
            name += ".fifo"
        return name

    def ref(self, name: str) -> str:
        if name in self.parameters:
            return self.parameters[name]
        if name in PSEUDO_PARAMETERS:
            return self.pseudo(name)
        if name in self.refs:
            return self.refs[name]
        if name not in self.template.resources:
            raise KeyError(
                f"!Ref {name}: no such parameter or resource (or parameter has no value)"
            )
        rtype = str(self.template.resources[name].get("Type"))
        if rtype in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
            layer = self.physical_name(name)
            return f"arn:{self.partition}:lambda:{self.region}:{self.account_id}:layer:{layer}:1"
        if rtype in ("AWS::Serverless::HttpApi", "AWS::Serverless::Api"):
            return "local"
        return self.physical_name(name)

    def get_att(self, logical_id: str, attribute: str) -> str:
        if logical_id not in self.template.resources:
            raise KeyError(f"!GetAtt {logical_id}.{attribute}: no such resource")
        rtype = str(self.template.resources[logical_id].get("Type"))
        name = self.physical_name(logical_id)
        if attribute == "Arn":
            fmt = _ARN_FORMATS.get(rtype)
            if fmt is None:
                raise KeyError(f"!GetAtt {logical_id}.Arn: no local ARN format for {rtype}")
            return fmt.format(p=self.partition, r=self.region, a=self.account_id, name=name)
        if attribute in ("QueueName", "Name", "TableName"):
            return name
        if attribute == "QueueUrl":
            return self.ref(logical_id)
        if attribute == "StreamArn":
            return self.get_att(logical_id, "Arn") + "/stream/local"
        raise KeyError(f"!GetAtt {logical_id}.{attribute}: attribute not supported locally")


_SUB_VAR = re.compile(r"\$\{([^}]*)\}")


def _sub(template_str: str, variables: Mapping[str, Any], ctx: ResolveContext) -> str:
    def one(match: re.Match[str]) -> str:
        expr = match.group(1)
        if expr.startswith("!"):  # ${!Literal} is written out as ${Literal}
            return "${" + expr[1:] + "}"
        if expr in variables:
            return str(resolve(variables[expr], ctx))
        if "." in expr and expr.split(".", 1)[0] in ctx.template.resources:
            logical_id, attribute = expr.split(".", 1)
            return ctx.get_att(logical_id, attribute)
        return ctx.ref(expr)

    return _SUB_VAR.sub(one, template_str)


def _condition(name: str, ctx: ResolveContext) -> bool:
    return bool(resolve(ctx.template.conditions[name], ctx))


def _fn_if(args: list[Any], ctx: ResolveContext) -> Any:
    name, when_true, when_false = args
    return resolve(when_true if _condition(str(name), ctx) else when_false, ctx)


def _fn_select(args: list[Any], ctx: ResolveContext) -> Any:
    index, items = args
    return resolve(items, ctx)[int(resolve(index, ctx))]


def _fn_split(args: list[Any], ctx: ResolveContext) -> Any:
    sep, text = args
    return str(resolve(text, ctx)).split(str(sep))


def _fn_join(args: list[Any], ctx: ResolveContext) -> Any:
    sep, items = args
    return str(sep).join(str(resolve(item, ctx)) for item in resolve(items, ctx))


def _fn_find_in_map(args: list[Any], ctx: ResolveContext) -> Any:
    name, key, sub_key = (resolve(a, ctx) for a in args[:3])
    return ctx.template.mappings[name][key][sub_key]


def _fn_sub(arg: Any, ctx: ResolveContext) -> Any:
    if isinstance(arg, list):
        return _sub(str(arg[0]), dict(arg[1]), ctx)
    return _sub(str(arg), {}, ctx)


_FUNCTIONS: dict[str, Callable[[Any, ResolveContext], Any]] = {
    "Ref": lambda arg, ctx: ctx.ref(str(arg)),
    "Fn::GetAtt": lambda arg, ctx: ctx.get_att(str(arg[0]), str(resolve(arg[1], ctx))),
    "Fn::Sub": _fn_sub,
    "Fn::Join": _fn_join,
    "Fn::Select": _fn_select,
    "Fn::Split": _fn_split,
    "Fn::If": _fn_if,
    "Fn::FindInMap": _fn_find_in_map,
    "Fn::Base64": lambda arg, ctx: base64.b64encode(str(resolve(arg, ctx)).encode()).decode(),
    "Fn::Equals": lambda arg, ctx: str(resolve(arg[0], ctx)) == str(resolve(arg[1], ctx)),
    "Fn::Not": lambda arg, ctx: not resolve(arg[0], ctx),
    "Fn::And": lambda arg, ctx: all(resolve(a, ctx) for a in arg),
    "Fn::Or": lambda arg, ctx: any(resolve(a, ctx) for a in arg),
    "Condition": lambda arg, ctx: _condition(str(arg), ctx),
    "Fn::ToJsonString": lambda arg, ctx: json.dumps(resolve(arg, ctx)),
}


def overlay_env(env: dict[str, str], declared: Mapping[str, str]) -> None:
    """Put a function's declared variables over `env`, except that one the template declares
    empty (a hook for local runs, such as AWS_ENDPOINT_URL) keeps the local value `env` has."""
    env.update({k: v for k, v in declared.items() if v or k not in env})


def resolve(value: Any, ctx: ResolveContext) -> Any:
    """Evaluate the intrinsic functions in ``value`` against the local stack."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key in _FUNCTIONS:
                return _FUNCTIONS[key](arg, ctx)
        return {k: resolve(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, ctx) for v in value]
    return value


def references(value: Any) -> list[tuple[str, str, str]]:
    """Every name a value refers to, as (kind, name, attribute): kind is Ref, GetAtt or Sub.

    The template test uses it to prove each reference names a real parameter or resource.
    """
    found: list[tuple[str, str, str]] = []
    if isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref":
                found.append(("Ref", str(arg), ""))
            elif key == "Fn::GetAtt":
                parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
                found.append(("GetAtt", str(parts[0]), str(parts[1]) if len(parts) > 1 else ""))
            elif key == "Fn::Sub":
                text, variables = (arg[0], dict(arg[1])) if isinstance(arg, list) else (arg, {})
                for expr in _SUB_VAR.findall(str(text)):
                    if expr.startswith("!") or expr in variables:
                        continue
                    name, _, attribute = expr.partition(".")
                    found.append(("Sub", name, attribute))
                found.extend(references(variables))
            else:
                found.extend(references(arg))
    elif isinstance(value, list):
        for item in value:
            found.extend(references(item))
    return found
