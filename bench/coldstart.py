"""Section 1: cold start of each function against `import boto3; boto3.client("dynamodb")`.

Each sample is the wall time from starting a fresh interpreter (``python -c``) to the line
it prints when it is ready for its first event (it then leaves without the interpreter's
teardown, which Lambda never pays), doing what a new Lambda execution environment of the
function does before its first AWS call leaves:

* imports ``functions/<dir>/app.py`` with ``sys.path = [functions/<dir>, layers/common,
  site-packages]`` and the environment the template gives the function plus Lambda's own
  variables (the INIT phase), then
* the first invocation's one-time setup: the product's `Context` (settings, DynamoDB and
  SQS clients), the EventBridge client, the SSM provider of the secret, the 1MSG client, the
  phone-number library where the function uses them (none of it touches the network).

The in-process figures of each step ("in-process ms") are the process's CPU time, which a
busy neighbour stretches far less than wall time.

The baseline is the same interpreter running ``import boto3; boto3.client("dynamodb")``.
Samples are interleaved (every round runs every target once, in a shuffled order) and the
median of N rounds is kept, so a noisy neighbour slows both sides alike. Bytecode is
cached for both (``-X pycache_prefix`` in a temporary folder, warmed by one untimed round),
as pip and ``sam build`` install it and as Lambda's own boto3 is.

``-X importtime`` then attributes the difference: the packages whose imports cost the most
beyond the baseline's.
"""

from __future__ import annotations

import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bench.table import Row, fmt_ms

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "baseline"
TARGET_RATIO = 1.4

# One-time setup of a function's first invocation (no network), by step.
FIRST_USE_STEPS: dict[str, str] = {
    "context": "from session_reply.flows.context import Context\nctx = Context.default()\n",
    "queue": "Context.default().queue.client\n",
    "events": "from session_reply import bus\nbus._events_client()\n",
    "ssm": "from session_reply.secrets import ssm_provider\nssm_provider()\n",
    "onemsg": (
        "from session_reply.onemsg.client import get_client, warm_up\n"
        "warm_up()\n"
        "s = Context.default().settings\n"
        "get_client(s.onemsg_api_url, s.onemsg_channel_id, 'token', s.onemsg_auth,"
        " s.onemsg_timeout_seconds)\n"
    ),
    "send flow": "import session_reply.flows.send_reply\n",
    "phone": "from session_reply.domain.phone import phone_problem\n"
    "phone_problem('77011234567@c.us')\n",
    "extractor rules": "import session_reply.domain.request\n",
    "extractor model": "from session_reply.domain.language import scores\nscores('hola', ['es'])\n",
}
# What each function's first request needs beyond INIT, and what that request is.
FIRST_REQUEST: dict[str, str] = {
    "WebhookFunction": "a client's message",
    "SenderFunction": "an auto-reply's first run, which waits out the burst",
    "ManagerApiFunction": "a manager's POST",
    "StatusPollerFunction": "a run with nothing to ask 1MSG",
}
FIRST_USE: dict[str, tuple[str, ...]] = {
    "WebhookFunction": ("context", "events", "ssm"),
    "SenderFunction": ("context", "queue"),
    "ManagerApiFunction": ("context", "queue"),
    "StatusPollerFunction": ("context",),
}
# Other first requests, measured the same way (mode, what it is, the steps after FIRST_USE).
SEND_PATH = ("send flow", "events", "ssm", "onemsg", "phone")
EXTRACTOR = ("extractor rules", "extractor model")
SCENARIOS: dict[str, tuple[tuple[str, str, tuple[str, ...]], ...]] = {
    "SenderFunction": (
        (
            "send-first",
            "first send with no burst wait before it (a manager's message): + the send path",
            SEND_PATH,
        ),
        (
            "send-path-in-init",
            "the whole send path and the extractor in INIT (as before)",
            EXTRACTOR + SEND_PATH,
        ),
        (
            "extractor-in-init",
            "the extractor (rules and language model) in INIT",
            EXTRACTOR,
        ),
    ),
    "StatusPollerFunction": (
        (
            "asks-1msg",
            "a run that asks 1MSG (hookInfo): + the 1MSG client and the token",
            ("ssm", "onemsg"),
        ),
    ),
}
EXTRACTOR_FUNCTION = "SenderFunction"
EXTRACTOR_MODE = "extractor-in-init"
EXTRACTOR_TARGET_MS = 30.0
_FAILED = "BENCH-FIRST-USE-FAILED"
GC_OPTION = "collector off during INIT, gc.freeze() after"
# Options measured as one step each, after `import boto3; boto3.client("dynamodb")`: the way
# the bundle does it now against the way it did before (setup, before, now).
STEP_OPTIONS: dict[str, tuple[str, str, str]] = {
    "SSM provider on a client of the default session (webhook, sender, poller)": (
        "from aws_lambda_powertools.utilities import parameters",
        "parameters.SSMProvider()",
        'parameters.SSMProvider(boto3_client=boto3.client("ssm"))',
    ),
    "idempotency persistence on the state table's DynamoDB client (lead API)": (
        "from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer\n"
        'ddb = boto3.client("dynamodb")',
        'DynamoDBPersistenceLayer(table_name="t")',
        'DynamoDBPersistenceLayer(table_name="t", boto3_client=ddb)',
    ),
    "the webhook's and the lead API's own route adapter, not Powertools' APIGatewayHttpResolver": (
        "import base64, binascii, json",
        "from aws_lambda_powertools.event_handler import APIGatewayHttpResolver\n"
        "APIGatewayHttpResolver()",
        "pass",
    ),
    "the sender reads its SQS records as dicts, not Powertools' SQSRecord": (
        "pass",
        "from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord",
        "pass",
    ),
    "send_key from the queue module: the lead API and the poller no longer load the send flow": (
        "import session_reply.flows.context",
        "import session_reply.flows.send_reply",
        "from session_reply.queue import send_key",
    ),
}


@dataclass
class Target:
    name: str  # BASELINE or a function's logical id
    mode: str  # "import" (INIT only) or "full" (INIT + first-use setup)
    code: str
    env: dict[str, str]
    cwd: Path
    samples: list[float] = field(default_factory=list)
    cpu_samples: list[float] = field(default_factory=list)  # the process's own CPU seconds
    failures: list[str] = field(default_factory=list)
    steps: dict[str, list[float]] = field(default_factory=dict)  # step -> ms per sample
    loaded: set[str] = field(default_factory=set)  # of HEAVY_MODULES

    def step_ms(self) -> dict[str, float]:
        return {k: statistics.median(v) for k, v in self.steps.items()}

    @property
    def key(self) -> str:
        return f"{self.name}:{self.mode}"

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else 0.0

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu_samples) if self.cpu_samples else 0.0


@dataclass
class ColdStartResult:
    runs: int
    baseline: Target
    functions: dict[str, dict[str, Target]]  # logical id -> mode -> target
    imports: dict[str, list[tuple[str, float]]]  # logical id -> [(package, extra ms)]
    memory_mb: dict[str, int]
    options: dict[str, tuple[Target, Target]] = field(default_factory=dict)  # before, now


def lambda_env(
    name: str, memory: int, timeout: int, handler: str, task_root: Path
) -> dict[str, str]:
    """The variables Lambda sets in every execution environment (dummy credentials)."""
    region = "us-east-1"
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),  # noqa: S108 - only when HOME is unset
        "LANG": "en_US.UTF-8",
        "TZ": "UTC",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(timeout),
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "LAMBDA_TASK_ROOT": str(task_root),
        "_HANDLER": handler,
    }


# What Lambda's python3.12 runtime itself provides, besides the standard library.
LAMBDA_RUNTIME_PACKAGES = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "python-dateutil",
    "six",
    "urllib3",
)
_STEP = "BENCH-STEP"
_LOADED = "BENCH-LOADED"
# Modules only some requests need: which cold starts load them is shown with each row.
HEAVY_MODULES = (
    "httpx",
    "phonenumbers",
    "fasttext",
    "session_reply.domain.request",
    "session_reply.flows.send_reply",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.utilities.parameters",
)
EXTRACTOR_MODULES = ("session_reply.domain.request", "fasttext")
_READY = "BENCH-READY"
# The environment is ready to take its first event: say so, and leave without the
# interpreter's teardown (Lambda never pays it; it grows with every module loaded).
_EPILOGUE = [
    "import os",
    "sys.stderr.flush()",
    f"sys.stdout.write('{_READY}\\n')",
    "sys.stdout.flush()",
    "os._exit(0)",
]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def layer_packages(root: Path = ROOT) -> set[str]:
    """Distributions a function can import on Lambda: the layer's requirements (pinned, with
    their dependencies) and what the runtime ships."""
    names = {_canonical(n) for n in LAMBDA_RUNTIME_PACKAGES}
    requirements = root / "layers" / "common" / "requirements.txt"
    if requirements.exists():
        for line in requirements.read_text(encoding="utf-8").splitlines():
            found = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line.split("#", 1)[0])
            if found:
                names.add(_canonical(found.group(1)))
    return names


def blocked_modules(root: Path = ROOT) -> list[str]:
    """Top-level modules installed in this venv that the Lambda environment would not have
    (moto, flask, click, pygments, the X-Ray SDK, ...): a function must not find them.

    Example: httpx imports its command line (click, pygments) when click is importable."""
    from importlib.metadata import packages_distributions

    allowed = layer_packages(root)
    return sorted(
        module
        for module, dists in packages_distributions().items()
        if not any(_canonical(d) in allowed for d in dists)
    )


def _prelude(blocked: list[str]) -> list[str]:
    return [
        "import sys, time",
        "_t = time.process_time()",
        f"_BLOCKED = frozenset({blocked!r})",
        "class _NotOnLambda:",
        "    def find_spec(self, name, path=None, target=None):",
        "        if name.partition('.')[0] in _BLOCKED:",
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)",
        "        return None",
        "sys.meta_path.insert(0, _NotOnLambda())",
    ]


def _timed(step: str, body: str) -> list[str]:
    """Run ``body``; report its time (and a failure) on stderr."""
    indented = body.rstrip("\n").replace("\n", "\n    ")
    return [
        "try:",
        f"    {indented}",
        "except Exception as exc:",
        f"    print('{_FAILED}', {step!r}, type(exc).__name__, exc, file=sys.stderr)",
        "_n = time.process_time()",
        f"print('{_STEP}', {step!r}, (_n - _t) * 1000, file=sys.stderr)",
        "_t = _n",
    ]


def _baseline_code(blocked: list[str]) -> str:
    lines = _prelude(blocked)
    lines += _timed("import boto3", "import boto3")
    lines += _timed("client", 'boto3.client("dynamodb")')
    return "\n".join(lines + _EPILOGUE) + "\n"


def _function_code(
    code_dir: Path,
    layer_dirs: list[Path],
    steps: tuple[str, ...],
    blocked: list[str],
    collector_in_init: bool = False,
) -> str:
    paths = [str(code_dir), *(str(p) for p in layer_dirs)]
    lines = _prelude(blocked)
    if collector_in_init:  # the handler's gc.disable()/gc.freeze() made no-ops
        lines.append("import gc; gc.disable = gc.freeze = lambda: None")
    # Lambda's path: the code, the layers, then the runtime's packages (no cwd).
    lines.append(f"sys.path[:] = {paths!r} + [p for p in sys.path if p]")
    lines += [
        "import app",
        "_n = time.process_time()",
        f"print('{_STEP}', 'import app', (_n - _t) * 1000, file=sys.stderr)",
        "_t = _n",
    ]
    for step in steps:
        lines += _timed(step, FIRST_USE_STEPS[step])
    # Which of the heavy modules this cold start loaded (after the timing, before the end).
    lines.append(
        f"print('{_LOADED}', ' '.join(m for m in {HEAVY_MODULES!r} if m in sys.modules), "
        "file=sys.stderr)"
    )
    return "\n".join(lines + _EPILOGUE) + "\n"


def targets(
    root: Path = ROOT, functions: list[str] | None = None
) -> tuple[Target, list[Target], dict[str, int]]:
    from devstack.template import ResolveContext, Template, resolve

    template = Template.load(root)
    ctx = ResolveContext.for_template(template, {"OneMsgChannelId": "100001"})
    for queue in template.queues():  # an SQS queue's !Ref is its URL
        ctx.refs[queue.logical_id] = (
            f"https://sqs.us-east-1.amazonaws.com/{ctx.account_id}/"
            f"{ctx.physical_name(queue.logical_id)}"
        )
    blocked = blocked_modules(root)
    baseline_env = lambda_env("baseline", 256, 10, "app.lambda_handler", root)
    baseline = Target(BASELINE, "full", _baseline_code(blocked), baseline_env, root)
    out: list[Target] = []
    memory: dict[str, int] = {}
    for fn in template.functions():
        if functions is not None and fn.logical_id not in functions:
            continue
        code_dir = root / fn.code_uri
        env = lambda_env(
            ctx.physical_name(fn.logical_id), fn.memory_size, fn.timeout, fn.handler, code_dir
        )
        env.update({k: str(v) for k, v in resolve(fn.environment, ctx).items()})
        log_format = fn.logging_config.get("LogFormat")
        if log_format:
            env["AWS_LAMBDA_LOG_FORMAT"] = str(log_format)
        layers = template.layer_dirs(fn)
        steps = FIRST_USE.get(fn.logical_id, ("context",))
        memory[fn.logical_id] = fn.memory_size
        for mode, chosen in (("import", ()), ("full", steps)):
            code = _function_code(code_dir, layers, chosen, blocked)
            out.append(Target(fn.logical_id, mode, code, env, code_dir))
        code = _function_code(code_dir, layers, steps, blocked, collector_in_init=True)
        out.append(Target(fn.logical_id, "full-collector-on", code, env, code_dir))
        for mode, _label, extra in SCENARIOS.get(fn.logical_id, ()):
            code = _function_code(code_dir, layers, steps + extra, blocked)
            out.append(Target(fn.logical_id, mode, code, env, code_dir))
    return baseline, out, memory


def option_targets(root: Path = ROOT) -> dict[str, tuple[Target, Target]]:
    """(before, now) per step option: the baseline's interpreter, then the step."""
    blocked = blocked_modules(root)
    env = lambda_env("option", 256, 10, "app.lambda_handler", root)
    layer = str(root / "layers" / "common")
    out: dict[str, tuple[Target, Target]] = {}
    for label, (setup, before, after) in STEP_OPTIONS.items():
        pair = []
        for mode, step in (("before", before), ("now", after)):
            lines = _prelude(blocked)
            lines.append(f"sys.path[:] = [{layer!r}] + [p for p in sys.path if p]")
            lines += _timed("import boto3", "import boto3")
            lines += _timed("client", 'boto3.client("dynamodb")')
            lines += _timed("setup", setup)
            lines += _timed("option", step)
            code = "\n".join(lines + _EPILOGUE) + "\n"
            pair.append(Target(label, mode, code, env, root))
        out[label] = (pair[0], pair[1])
    return out


def _command(pycache: str, code: str, *flags: str) -> list[str]:
    return [sys.executable, "-X", f"pycache_prefix={pycache}", *flags, "-c", code]


def run_once(target: Target, pycache: str) -> float:
    """Seconds from starting the interpreter to its ready line (the end of its INIT). The
    process's own CPU time (user + system, it leaves right after that line) goes to
    `cpu_samples`: a busy neighbour stretches the wall time of both sides, far less the CPU
    time each spends."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and code
        _command(pycache, target.code),
        env=target.env,
        cwd=target.cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ready = proc.stdout.readline()
    elapsed = time.perf_counter() - started
    _, stderr = proc.communicate()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 or ready.strip() != _READY:
        raise RuntimeError(f"{target.key} failed to start:\n{stderr[-2000:]}")
    target.cpu_samples.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    for line in stderr.splitlines():
        if line.startswith(_FAILED) and line not in target.failures:
            target.failures.append(line.removeprefix(_FAILED).strip())
        elif line.startswith(_LOADED):
            target.loaded = set(line.removeprefix(_LOADED).split())
        elif line.startswith(_STEP):
            step, _, ms = line.removeprefix(_STEP).strip().rpartition(" ")
            target.steps.setdefault(step.strip("'\""), []).append(float(ms))
    return elapsed


def import_costs(target: Target, pycache: str, runs: int = 3) -> dict[str, float]:
    """Self time (ms) of the imports, grouped by package: the least of a few ``-X importtime``
    runs (one run on a busy machine puts noise into whichever import it hits)."""
    best: dict[str, float] = {}
    pattern = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")
    for _ in range(runs):
        done = subprocess.run(  # noqa: S603 - our own interpreter and code
            _command(pycache, target.code, "-X", "importtime"),
            env=target.env,
            cwd=target.cwd,
            capture_output=True,
            text=True,
            check=False,
        )
        groups: dict[str, float] = defaultdict(float)
        for line in done.stderr.splitlines():
            found = pattern.match(line)
            if found:
                groups[package_group(found.group(4))] += int(found.group(1)) / 1000
        for name, ms in groups.items():
            best[name] = min(ms, best.get(name, ms))
    return best


def package_group(module: str) -> str:
    """How the notes name a module's cost: its top package, with more depth where a package
    is large and only some of it is used (Powertools, the product's own package)."""
    parts = module.split(".")
    if parts[0] == "aws_lambda_powertools":
        depth = 3 if len(parts) > 2 and parts[1] == "utilities" else 2
        return "powertools." + ".".join(parts[1:depth]) if len(parts) > 1 else "powertools"
    if parts[0] in ("session_reply",):
        return ".".join(parts[:2])
    if parts[0] in ("pydantic", "pydantic_core"):
        return "pydantic"
    if parts[0] in ("httpx", "httpcore", "anyio", "h11", "sniffio", "certifi", "idna"):
        return "httpx"
    return parts[0]


def measure_cold_start(
    runs: int = 7,
    root: Path = ROOT,
    functions: list[str] | None = None,
    seed: int = 11,
    attribute: bool = True,
) -> ColdStartResult:
    baseline, fn_targets, memory = targets(root, functions)
    options = option_targets(root) if functions is None else {}
    everything = [baseline, *fn_targets, *(t for pair in options.values() for t in pair)]
    rng = random.Random(seed)  # noqa: S311 - a shuffle, not a secret
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as pycache:
        for target in everything:  # untimed: compiles the bytecode into the cache
            run_once(target, pycache)
        for _ in range(runs):
            order = list(everything)
            rng.shuffle(order)
            for target in order:
                target.samples.append(run_once(target, pycache))
        imports: dict[str, list[tuple[str, float]]] = {}
        if attribute:
            base_costs = import_costs(baseline, pycache)
            for target in fn_targets:
                if target.mode != "full":
                    continue
                costs = import_costs(target, pycache)
                extra = {k: v - base_costs.get(k, 0.0) for k, v in costs.items()}
                top = sorted(extra.items(), key=lambda kv: kv[1], reverse=True)
                imports[target.name] = [(k, v) for k, v in top if v >= 1.0]
    by_fn: dict[str, dict[str, Target]] = defaultdict(dict)
    for target in fn_targets:
        by_fn[target.name][target.mode] = target
    return ColdStartResult(runs, baseline, dict(by_fn), imports, memory, options)


def _loaded(target: Target) -> str:
    loaded = [_short(m) for m in HEAVY_MODULES if m in target.loaded]
    left = [_short(m) for m in HEAVY_MODULES if m not in target.loaded]
    return f"loaded: {', '.join(loaded) or 'none'} of the heavy modules; not: {', '.join(left)}"


def _short(module: str) -> str:
    return module.replace("session_reply.", "").replace("aws_lambda_powertools.", "powertools.")


def _cpu(target: Target, baseline: Target) -> str:
    """The same comparison in the processes' own CPU time."""
    if not baseline.cpu_median:
        return ""
    return (
        f"CPU time {target.cpu_median / baseline.cpu_median:.2f}x "
        f"({fmt_ms(target.cpu_median)} against {fmt_ms(baseline.cpu_median)})"
    )


def _steps(target: Target) -> str:
    return ", ".join(f"{k} {v:.0f}" for k, v in target.step_ms().items())


def cold_start_rows(result: ColdStartResult, top: int = 5) -> list[Row]:
    rows: list[Row] = []
    base = result.baseline.median
    floor = f"{fmt_ms(base)}: boto3 + client('dynamodb') ({_steps(result.baseline)} ms in-process)"
    for name, modes in result.functions.items():
        full, init = modes["full"], modes["import"]
        before = modes.get("full-collector-on")
        ratio = full.median / base if base else None
        notes = [f"import only {init.median / base:.2f}x" if base else ""]
        notes.append(_cpu(full, result.baseline))
        notes.append(f"in-process ms: {_steps(full)}")
        notes.append(_loaded(full))
        extra = ", ".join(f"{k} {v:.0f}" for k, v in result.imports.get(name, [])[:top])
        if extra:
            notes.append(f"imports beyond the baseline's (ms, -X importtime self): {extra}")
        if before is not None and before.samples:
            notes.append(
                f"option {GC_OPTION}: {fmt_ms(before.median)} without it "
                f"({before.median / base:.2f}x)"
            )
        if full.failures:
            notes.append("first-use step failed: " + "; ".join(full.failures))
        notes.append(f"median of {result.runs}, interleaved")
        rows.append(
            Row(
                section="1 cold start",
                measure=f"{name}: fresh interpreter, import app.py + first-use setup "
                f"({FIRST_REQUEST.get(name, 'its first request')})",
                bundle=f"{fmt_ms(full.median)} (import only {fmt_ms(init.median)})",
                floor=floor,
                ratio=ratio,
                target=f"<= {TARGET_RATIO}x",
                ok=None if ratio is None else ratio <= TARGET_RATIO,
                notes="; ".join(n for n in notes if n),
            )
        )
        rows += _scenario_rows(name, modes, result.baseline, floor, result.runs)
        if before is not None and before.samples:
            rows.append(
                Row(
                    section="1 cold start",
                    measure=f"{name}: option {GC_OPTION}",
                    bundle=f"{fmt_ms(full.median)} with it, {fmt_ms(before.median)} without",
                    floor=f"{fmt_ms(before.median - full.median)} saved",
                    ratio=full.median / before.median if before.median else None,
                    notes="the same cold start with the handler's gc calls made no-ops; "
                    f"median of {result.runs}, interleaved",
                )
            )
    for label, (before, now) in result.options.items():
        was, is_ = before.step_ms().get("option", 0.0), now.step_ms().get("option", 0.0)
        rows.append(
            Row(
                section="1 cold start",
                measure=f"option: {label}",
                bundle=f"{is_:.0f} ms now, {was:.0f} ms before",
                floor=f"{was - is_:.0f} ms saved per cold start",
                ratio=is_ / was if was else None,
                notes="the step alone, in-process, after boto3 + client('dynamodb'); "
                f"median of {result.runs}, interleaved",
            )
        )
    return rows


def _scenario_rows(
    name: str, modes: dict[str, Target], baseline: Target, floor: str, runs: int
) -> list[Row]:
    """The function's other first requests, and the extractor's load where it is measured."""
    rows: list[Row] = []
    for mode, label, _extra in SCENARIOS.get(name, ()):
        target = modes.get(mode)
        if target is None or not target.samples:
            continue
        notes = [_cpu(target, baseline), f"in-process ms: {_steps(target)}"]
        if target.failures:
            notes.append("first-use step failed: " + "; ".join(target.failures))
        notes.append(f"median of {runs}, interleaved")
        rows.append(
            Row(
                section="1 cold start",
                measure=f"{name}: {label}",
                bundle=fmt_ms(target.median),
                floor=floor,
                ratio=target.median / baseline.median if baseline.median else None,
                notes="; ".join(notes),
            )
        )
    with_it, now = modes.get(EXTRACTOR_MODE), modes.get("full")
    if name == EXTRACTOR_FUNCTION and with_it and now and with_it.samples:
        steps = with_it.step_ms()
        rules, model = steps.get(EXTRACTOR[0], 0.0), steps.get(EXTRACTOR[1], 0.0)
        load = rules + model
        in_cold_start = any(m in now.loaded for m in EXTRACTOR_MODULES)
        added = load if in_cold_start else 0.0
        where = (
            "loaded in the cold start"
            if in_cold_start
            else "none of it is loaded before the first event: its rules and model load "
            "after the sender's first batch, while an auto-reply waits out the burst"
        )
        rows.append(
            Row(
                section="1 cold start",
                measure=f"{name}: what the extractor adds to the cold start",
                bundle=f"{added:.1f} ms",
                floor=f"its load: {load:.1f} ms (rules {rules:.1f}, fastText model "
                f"{model:.1f}), in-process; cold start with it in INIT "
                f"{fmt_ms(with_it.median)}, as now {fmt_ms(now.median)}",
                ratio=added / EXTRACTOR_TARGET_MS if added else None,
                target=f"<= {EXTRACTOR_TARGET_MS:.0f} ms",
                ok=added <= EXTRACTOR_TARGET_MS,
                notes=f"{where}; median of {runs}, interleaved",
            )
        )
    return rows
