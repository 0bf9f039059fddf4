"""A Lambda-like runtime: worker processes per function, and the `Invoker` that drives them.

Each function runs in its own interpreter, as on Lambda: its own environment (only what the
template gives it plus Lambda's reserved variables), its own cold start, its own memory. A
module-level cache in one function can never leak into another, and a handler that only works
because the test process happened to import something first fails here as it would on AWS.

Worker side (``python -m devstack.runtime <LogicalId> --ready-fd N --path DIR ...``) uses only
the standard library, so the handler's import time is the function's real cold start. A worker
runs one invocation at a time; concurrent invocations of a function go to more workers (up to
its SQS MaximumConcurrency or LOCAL_FUNCTION_CONCURRENCY, default 3), each with its own cold
start, because handlers keep per-invocation state at module level (Powertools' resolver does).
"""

from __future__ import annotations

import argparse
import http.client
import importlib
import json
import os
import resource
import select
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devstack.template import ResolveContext, Template

DEVSTACK_HOME = Path(__file__).resolve().parent.parent  # the folder that holds `devstack/`
READY_TIMEOUT_SECONDS = 30.0

# ---------------------------------------------------------------------------
# Worker side.
# ---------------------------------------------------------------------------


class LambdaContext:
    """The attributes and method a Python Lambda handler gets as ``context``."""

    def __init__(self, request_id: str, timeout_seconds: float, invoked_arn: str = "") -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        # The Python runtime hands this over as the env string; Powertools accepts both.
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.invoked_function_arn = invoked_arn
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity: Any = None
        self.client_context: Any = None
        self.tenant_id: str | None = None
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _WorkerState:
    def __init__(
        self,
        handler: Callable[[Any, Any], Any] | None,
        init_error: dict[str, Any] | None,
        init_ms: float,
        timeout: float,
    ) -> None:
        self.handler = handler
        self.init_error = init_error
        self.init_ms = init_ms
        self.timeout = timeout
        self.invocations = 0
        self.errors = 0
        self.lock = threading.Lock()
        self.busy = threading.Lock()  # one invocation at a time, as in an execution environment
        self.first_report = True


def max_rss_kb() -> int:
    """Peak resident memory of this process, in KiB.

    Linux carries the parent's peak over fork+exec into ``getrusage`` (the worker would report
    the test runner's memory), so the per-process ``VmHWM`` is read first.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _error_payload(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def _platform_log(kind: str, record: dict[str, Any]) -> None:
    """Lambda's START/REPORT lines, in JSON when the function logs JSON."""
    if os.environ.get("AWS_LAMBDA_LOG_FORMAT", "Text").upper() == "JSON":
        line = json.dumps({"time": datetime.now(UTC).isoformat(), "type": kind, "record": record})
    else:
        line = f"{kind.split('.')[-1].upper()} " + " ".join(f"{k}: {v}" for k, v in record.items())
    print(line, flush=True)


def _make_handler_class(state: _WorkerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Silence the access log: the function's own logs are what matters here."""

        def _reply(self, status: int, payload: Any, function_error: bool = False) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if function_error:
                self.send_header("X-Amz-Function-Error", "Unhandled")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path != "/stats":
                self._reply(404, {"message": "Not Found"})
                return
            self._reply(
                200,
                {
                    "invocations": state.invocations,
                    "errors": state.errors,
                    "max_rss_kb": max_rss_kb(),
                    "init_ms": round(state.init_ms, 1),
                    "pid": os.getpid(),
                },
            )

        def do_POST(self) -> None:
            if self.path != "/invoke":
                self._reply(404, {"message": "Not Found"})
                return
            length = int(self.headers.get("Content-Length", "0"))
            request_id = self.headers.get("Lambda-Runtime-Aws-Request-Id") or str(uuid.uuid4())
            arn = self.headers.get("Lambda-Runtime-Invoked-Function-Arn") or ""
            raw = self.rfile.read(length)
            with state.busy:
                status, payload = invoke_handler(state, raw, request_id, arn)
            self._reply(status, payload, function_error=status != 200)

    return Handler


def invoke_handler(
    state: _WorkerState, raw_event: bytes, request_id: str, invoked_arn: str = ""
) -> tuple[int, Any]:
    """Run one invocation; (200, result) or (500, Lambda's error payload)."""
    with state.lock:
        state.invocations += 1
    _platform_log("platform.start", {"requestId": request_id, "version": "$LATEST"})
    started = time.monotonic()
    status: int
    payload: Any
    if state.handler is None:
        status, payload = 500, dict(state.init_error or {"errorType": "Runtime.Unknown"})
    else:
        try:
            event = json.loads(raw_event or b"{}")
            result = state.handler(event, LambdaContext(request_id, state.timeout, invoked_arn))
        except Exception as exc:
            status, payload = 500, _error_payload(exc)
        else:
            try:
                status, payload = 200, json.loads(json.dumps(result))
            except (TypeError, ValueError) as exc:
                status, payload = 500, _error_payload(exc, "Runtime.MarshalError")
    if status != 200:
        with state.lock:
            state.errors += 1
        payload["requestId"] = request_id
        # Lambda writes the unhandled error to the function's log, with its trace.
        print(json.dumps({"level": "ERROR", **payload}), file=sys.stderr, flush=True)
    duration = (time.monotonic() - started) * 1000
    report: dict[str, Any] = {
        "requestId": request_id,
        "durationMs": round(duration, 2),
        "memorySizeMB": int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")),
        "maxMemoryUsedMB": max_rss_kb() // 1024,
    }
    with state.lock:
        if state.first_report:
            report["initDurationMs"] = round(state.init_ms, 2)
            state.first_report = False
    _platform_log("platform.report", report)
    return status, payload


def _load_handler(handler: str) -> Callable[[Any, Any], Any]:
    module_name, _, attr = handler.rpartition(".")
    module = importlib.import_module(module_name)
    fn = getattr(module, attr)
    if not callable(fn):
        raise TypeError(f"{handler} is not callable")
    return fn  # type: ignore[no-any-return]


def _exit_when_parent_goes() -> None:
    """The parent holds our stdin; EOF means it is gone, and a worker must not outlive it."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


def worker_main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="devstack Lambda worker (started by Invoker)")
    parser.add_argument("logical_id")
    parser.add_argument("--ready-fd", type=int, required=True)
    parser.add_argument("--path", action="append", default=[])
    args = parser.parse_args(argv)

    # Lambda's import path: the code folder, then the layers, then the runtime's own packages.
    # The devstack folder leaves the path so the handler cannot import the dev tooling.
    from devstack import faultplan  # imported while the devstack folder is on the path

    home = str(DEVSTACK_HOME)
    sys.path[:] = [*args.path, *(p for p in sys.path if p not in ("", home, os.getcwd()))]
    os.environ.pop("PYTHONPATH", None)  # only there to start this module; not the function's
    threading.Thread(target=_exit_when_parent_goes, daemon=True).start()
    faultplan.install(args.logical_id)  # only when DEVSTACK_FAULT_PLAN is set (make faults)

    started = time.monotonic()
    handler: Callable[[Any, Any], Any] | None = None
    init_error: dict[str, Any] | None = None
    try:
        handler = _load_handler(os.environ["_HANDLER"])
    except ImportError as exc:
        init_error = _error_payload(exc, "Runtime.ImportModuleError")
        init_error["errorMessage"] = f"Unable to import module '{os.environ['_HANDLER']}': {exc}"
    except Exception as exc:
        init_error = _error_payload(
            exc,
            "Runtime.HandlerNotFound"
            if isinstance(exc, AttributeError)
            else f"Runtime.{type(exc).__name__}",
        )
    if init_error:
        print(
            json.dumps({"level": "ERROR", "phase": "init", **init_error}),
            file=sys.stderr,
            flush=True,
        )
    init_ms = (time.monotonic() - started) * 1000

    timeout = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3"))
    state = _WorkerState(handler, init_error, init_ms, timeout)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler_class(state))
    server.daemon_threads = True
    ready = {
        "port": server.server_address[1],
        "init_ms": init_ms,
        "init_error": init_error and init_error["errorMessage"],
    }
    with os.fdopen(args.ready_fd, "w") as pipe:
        pipe.write(json.dumps(ready) + "\n")
    server.serve_forever()


# ---------------------------------------------------------------------------
# Parent side.
# ---------------------------------------------------------------------------


class FunctionError(Exception):
    """The function raised (or timed out, or failed to start): Lambda's error payload."""

    def __init__(self, logical_id: str, payload: Mapping[str, Any]) -> None:
        self.logical_id = logical_id
        self.payload = dict(payload)
        self.error_type = str(payload.get("errorType", "Unknown"))
        super().__init__(f"{logical_id}: {self.error_type}: {payload.get('errorMessage', '')}")


class _Worker:
    """One execution environment: a process that runs one invocation at a time."""

    def __init__(
        self, logical_id: str, proc: subprocess.Popen[bytes], ready_fd: int, log_path: Path
    ) -> None:
        self.logical_id = logical_id
        self.proc = proc
        self.ready_fd = ready_fd
        self.log_path = log_path
        self.port = 0
        self.init_ms = 0.0
        self.init_error: str | None = None
        self.reader: threading.Thread | None = None

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        data = b""
        try:
            while not data.endswith(b"\n"):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RuntimeError(f"{self.logical_id} did not start in {timeout:.0f} s")
                readable, _, _ = select.select([self.ready_fd], [], [], remaining)
                if not readable:
                    continue
                chunk = os.read(self.ready_fd, 4096)
                if not chunk:
                    raise RuntimeError(
                        f"{self.logical_id} exited during start (see {self.log_path})"
                    )
                data += chunk
        finally:
            os.close(self.ready_fd)
        ready = json.loads(data)
        self.port = int(ready["port"])
        self.init_ms = float(ready["init_ms"])
        self.init_error = ready.get("init_error")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()  # the worker exits on EOF; terminate is the backstop
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.reader:
            self.reader.join(timeout=2)
        if self.proc.stdout:
            self.proc.stdout.close()


class _Pool:
    """A function's execution environments: an idle one is reused, a busy function scales out.

    As on Lambda, two concurrent invocations never share an interpreter (module-level state
    such as Powertools' ``app.current_event`` is per environment), and each new environment
    pays its own cold start.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.idle: list[_Worker] = []
        self.all: list[_Worker] = []
        self.starting = 0
        self.cond = threading.Condition()


class Invoker:
    """Starts the functions' workers (lazily, or eagerly with `start`) and invokes them."""

    def __init__(
        self,
        template: Template,
        ctx: ResolveContext,
        aws_env: Mapping[str, str],
        log_dir: Path,
        *,
        shell_env: Mapping[str, str] | None = None,
        echo: bool = False,
        echo_stream: IO[str] | None = None,
        overrides: Mapping[str, str] | None = None,
    ) -> None:
        self.template = template
        self.ctx = ctx
        self.aws_env = dict(aws_env)
        self.overrides = {str(k): str(v) for k, v in (overrides or {}).items()}
        self.shell_env = dict(os.environ if shell_env is None else shell_env)
        self.log_dir = log_dir
        self.echo = echo
        self.echo_stream = echo_stream or sys.stderr
        default_limit = int(self.shell_env.get("LOCAL_FUNCTION_CONCURRENCY") or 3)
        sqs_limits = {s.function: s.maximum_concurrency or 0 for s in template.sqs_sources()}
        self._pools = {
            fn.logical_id: _Pool(max(default_limit, sqs_limits.get(fn.logical_id, 0)))
            for fn in template.functions()
        }
        self._echo_lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------
    def start(
        self,
        logical_ids: Iterable[str] | None = None,
        *,
        meanwhile: Callable[[], None] | None = None,
    ) -> None:
        """Start one environment per function now, in parallel: no cold start on first use.

        ``meanwhile`` runs while the workers import their handlers (the stack creates the
        tables then: a worker touches AWS only when invoked).
        """
        ids = list(self._pools) if logical_ids is None else list(logical_ids)
        plan: list[tuple[_Pool, str]] = []
        for lid in ids:
            pool = self._pool(lid)
            with pool.cond:
                if pool.all or pool.starting:
                    continue
                pool.starting += 1
            plan.append((pool, lid))
        self._bring_up(plan, meanwhile)

    def warm(self, counts: Mapping[str, int]) -> None:
        """Start environments, in parallel, until each function has ``counts[id]`` (up to its
        concurrency limit): a run that will scale out pays the cold starts before it begins."""
        plan: list[tuple[_Pool, str]] = []
        for lid, wanted in counts.items():
            pool = self._pool(lid)
            with pool.cond:
                missing = max(0, min(wanted, pool.limit) - len(pool.all) - pool.starting)
                pool.starting += missing
            plan += [(pool, lid)] * missing
        self._bring_up(plan)

    def _bring_up(
        self, plan: list[tuple[_Pool, str]], meanwhile: Callable[[], None] | None = None
    ) -> None:
        """Spawn the planned workers (each already counted in its pool's ``starting``), wait
        until all are ready, then make them available; on any failure stop them all."""
        spawned: list[tuple[_Pool, _Worker]] = []
        try:
            for pool, lid in plan:
                spawned.append((pool, self._spawn(lid)))
            if meanwhile is not None:
                meanwhile()
            for _, worker in spawned:
                worker.wait_ready()
        except BaseException:
            for _, worker in spawned:
                worker.stop()
            raise
        finally:
            for pool, _ in plan:
                with pool.cond:
                    pool.starting -= 1
        for pool, worker in spawned:
            with pool.cond:
                pool.all.append(worker)
                pool.idle.append(worker)
                pool.cond.notify()

    def stop(self) -> None:
        workers: list[_Worker] = []
        for pool in self._pools.values():
            with pool.cond:
                workers += pool.all
                pool.all, pool.idle = [], []
        for worker in workers:
            worker.stop()

    def _first(self) -> dict[str, _Worker]:
        return {lid: pool.all[0] for lid, pool in self._pools.items() if pool.all}

    def init_errors(self) -> dict[str, str]:
        return {lid: w.init_error for lid, w in self._first().items() if w.init_error}

    def init_ms(self) -> dict[str, float]:
        return {lid: w.init_ms for lid, w in self._first().items()}

    def log_path(self, logical_id: str) -> Path:
        return self.log_dir / f"{logical_id}.log"

    def function_env(self, logical_id: str) -> dict[str, str]:
        """The worker's whole environment: Lambda's, the template's (with the caller's
        ``overrides`` on top), the local endpoint's."""
        from devstack.template import overlay_env, resolve

        fn = self.template.function(logical_id)
        name = self.ctx.physical_name(logical_id)
        env = {k: v for k, v in self.shell_env.items() if k in _INHERITED}
        env.update(self.aws_env)
        overlay_env(env, {k: _env_str(v) for k, v in resolve(fn.environment, self.ctx).items()})
        env.update(self.overrides)
        log_group = fn.logging_config.get("LogGroup")
        today = datetime.now(UTC).strftime("%Y/%m/%d")
        env.update(
            {
                "_HANDLER": fn.handler,
                "LAMBDA_TASK_ROOT": str(self.template.root / fn.code_uri),
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.properties.get('Runtime', 'python3.12')}",
                "AWS_LAMBDA_FUNCTION_NAME": name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(fn.timeout),
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "AWS_LAMBDA_LOG_GROUP_NAME": (
                    str(resolve(log_group, self.ctx)) if log_group else f"/aws/lambda/{name}"
                ),
                "AWS_LAMBDA_LOG_STREAM_NAME": f"{today}/[$LATEST]{uuid.uuid4().hex}",
                "AWS_SAM_LOCAL": "true",  # what `sam local` sets: Powertools Tracer stays off
                "TZ": "UTC",
                "PYTHONPATH": str(DEVSTACK_HOME),
                "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
            }
        )
        if fn.logging_config.get("LogFormat"):
            env["AWS_LAMBDA_LOG_FORMAT"] = str(fn.logging_config["LogFormat"])
        if fn.logging_config.get("ApplicationLogLevel"):
            env["AWS_LAMBDA_LOG_LEVEL"] = str(fn.logging_config["ApplicationLogLevel"])
        return env

    def _pool(self, logical_id: str) -> _Pool:
        if logical_id not in self._pools:
            self.template.function(logical_id)  # raises with the known names
        return self._pools[logical_id]

    def _spawn(self, logical_id: str) -> _Worker:
        fn = self.template.function(logical_id)
        paths = [str(self.template.root / fn.code_uri)]
        paths += [str(p) for p in self.template.layer_dirs(fn)]
        read_fd, write_fd = os.pipe()
        cmd = [sys.executable, "-m", "devstack.runtime", logical_id, "--ready-fd", str(write_fd)]
        for path in paths:
            cmd += ["--path", path]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                cmd,
                env=self.function_env(logical_id),
                cwd=paths[0],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                start_new_session=True,  # Ctrl-C reaches the parent only; it stops us in order
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        worker = _Worker(logical_id, proc, read_fd, self.log_path(logical_id))
        worker.reader = threading.Thread(
            target=self._pump_logs, args=(worker,), name=f"log-{logical_id}", daemon=True
        )
        worker.reader.start()
        return worker

    def _pump_logs(self, worker: _Worker) -> None:
        assert worker.proc.stdout is not None
        prefix = f"[{worker.logical_id}] "
        with worker.log_path.open("ab") as log:
            for line in iter(worker.proc.stdout.readline, b""):
                log.write(line)
                log.flush()
                if self.echo:
                    with self._echo_lock:
                        self.echo_stream.write(prefix + line.decode(errors="replace"))
                        self.echo_stream.flush()

    def _acquire(self, logical_id: str) -> _Worker:
        """An idle environment, a new one if the function may scale out, else wait for one."""
        pool = self._pool(logical_id)
        with pool.cond:
            while True:
                while pool.idle:
                    worker = pool.idle.pop()
                    if worker.alive():
                        return worker
                    if worker in pool.all:  # `stop` may have emptied the roster meanwhile
                        pool.all.remove(worker)
                if len(pool.all) + pool.starting < pool.limit:
                    pool.starting += 1
                    break
                pool.cond.wait()
        try:
            worker = self._spawn(logical_id)
            try:
                worker.wait_ready()
            except BaseException:
                worker.stop()
                raise
        finally:
            with pool.cond:
                pool.starting -= 1
                pool.cond.notify()
        with pool.cond:
            pool.all.append(worker)
        return worker

    def _release(self, worker: _Worker, *, discard: bool = False) -> None:
        pool = self._pool(worker.logical_id)
        dead = discard or not worker.alive()
        with pool.cond:
            # A worker the pool no longer holds (`stop` ran while it was busy) is not reused.
            dead = dead or worker not in pool.all
            if dead:
                if worker in pool.all:
                    pool.all.remove(worker)
            else:
                pool.idle.append(worker)
            pool.cond.notify()
        if dead:
            worker.stop()

    # -- invocations ----------------------------------------------------------------------
    def invoke(self, logical_id: str, event: Any, *, request_id: str | None = None) -> Any:
        """Run ``event`` through the function; its result, or `FunctionError` if it raised."""
        worker = self._acquire(logical_id)
        timeout = self.template.function(logical_id).timeout
        # Lambda's own deadline plus a little for the loopback round trip.
        conn = http.client.HTTPConnection("127.0.0.1", worker.port, timeout=timeout + 0.5)
        discard = False
        try:
            conn.request(
                "POST",
                "/invoke",
                body=json.dumps(event).encode(),
                headers={
                    "Content-Type": "application/json",
                    "Lambda-Runtime-Aws-Request-Id": request_id or str(uuid.uuid4()),
                    "Lambda-Runtime-Invoked-Function-Arn": self.ctx.get_att(logical_id, "Arn"),
                },
            )
            response = conn.getresponse()
            payload = json.loads(response.read() or b"null")
            status = response.status
        except TimeoutError:
            # Lambda ends the environment on a timeout; the next call is a cold start.
            discard = True
            raise FunctionError(
                logical_id,
                {
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"Task timed out after {timeout:.2f} seconds",
                },
            ) from None
        except (ConnectionError, http.client.HTTPException) as exc:
            discard = True
            raise FunctionError(
                logical_id, {"errorType": "Runtime.ExitError", "errorMessage": str(exc)}
            ) from None
        finally:
            conn.close()
            self._release(worker, discard=discard)
        if status != 200:
            raise FunctionError(logical_id, payload)
        return payload

    def stats(self, logical_id: str) -> dict[str, Any]:
        """Invocations, errors and peak memory over the function's environments."""
        pool = self._pool(logical_id)
        with pool.cond:
            workers = list(pool.all)
        if not workers:
            return {
                "environments": 0,
                "invocations": 0,
                "errors": 0,
                "max_rss_kb": 0,
                "init_ms": 0.0,
                "pids": [],
            }
        per_worker = []
        for worker in workers:
            conn = http.client.HTTPConnection("127.0.0.1", worker.port, timeout=5)
            try:
                conn.request("GET", "/stats")
                per_worker.append(dict(json.loads(conn.getresponse().read())))
            finally:
                conn.close()
        return {
            "environments": len(per_worker),
            "invocations": sum(s["invocations"] for s in per_worker),
            "errors": sum(s["errors"] for s in per_worker),
            "max_rss_kb": max(s["max_rss_kb"] for s in per_worker),
            "init_ms": per_worker[0]["init_ms"],
            "pid": per_worker[0]["pid"],
            "pids": [s["pid"] for s in per_worker],
        }


# What a worker inherits from the developer's shell: enough to run Python, nothing that could
# point boto3 at a real account (no AWS_PROFILE, no real keys).
_INHERITED = frozenset(
    {
        "PATH",
        "HOME",
        "LANG",
        "LC_ALL",
        "TMPDIR",
        "LOG_LEVEL",
        "POWERTOOLS_LOG_LEVEL",
        "POWERTOOLS_DEV",
        "POWERTOOLS_DEBUG",
    }
)


def _env_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


if __name__ == "__main__":
    worker_main()
