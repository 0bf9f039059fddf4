"""AWS's own failures, made on a plan inside the function workers (``make faults``).

moto never throttles, never reports a transaction conflict and never loses a worker mid-call;
Lambda and DynamoDB do. When ``DEVSTACK_FAULT_PLAN`` names a plan file, a worker installs two
hooks before it imports its handler:

- every AWS call goes through ``BaseClient._make_api_call``: a matching ``dynamodb`` step
  cancels a TransactWriteItems with the reason it names (``ThrottlingError``,
  ``TransactionConflict``, ``ProvisionedThroughputExceeded``, ``ValidationError``), fails any
  other call with that error code, or (``"code": "timeout"``) raises a read timeout; a
  matching ``sqs`` step fails SendMessage the same way;
- every 1MSG call goes through ``httpx.Client.send``: a ``crash`` step kills the worker
  (``os._exit``, as an OOM or the runtime's timeout does) right after 1MSG answered the
  method it names, before the handler sees the answer (or, when the answer is late, while
  waiting for it).

A step is scoped to one function and to one chat (its phone digits must occur in the request;
``contains`` narrows it to requests holding that text) and is consumed ``times`` times,
across all workers (the file is locked while read and written). The harness writes the plan
with `add_steps`; nothing here runs unless the variable is set.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

ENV = "DEVSTACK_FAULT_PLAN"
KINDS = ("dynamodb", "sqs", "crash")


def add_steps(path: Path, steps: list[dict[str, Any]]) -> None:
    """Append steps to the plan (harness side)."""
    for step in steps:
        if step.get("kind") not in KINDS:
            raise ValueError(f"unknown fault step {step!r}")
    with _locked(path) as plan:
        plan.extend({"times": 1, **s} for s in steps)


def left(path: Path) -> list[dict[str, Any]]:
    with _locked(path) as plan:
        return [dict(s) for s in plan]


class _locked:
    """The plan, read and written back under an exclusive lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.plan: list[dict[str, Any]] = []
        self.text = ""

    def __enter__(self) -> list[dict[str, Any]]:
        self.file = open(self.path, "a+", encoding="utf-8")
        fcntl.flock(self.file, fcntl.LOCK_EX)
        self.file.seek(0)
        self.text = self.file.read()
        self.plan = json.loads(self.text) if self.text.strip() else []
        return self.plan

    def __exit__(self, *exc: object) -> None:
        try:
            # Written back only when it changed: every AWS call of every worker reads it,
            # and a rewrite is a moment in which the file is empty.
            text = json.dumps(self.plan)
            if text != self.text:
                self.file.seek(0)
                self.file.truncate()
                self.file.write(text)
                self.file.flush()
        finally:
            fcntl.flock(self.file, fcntl.LOCK_UN)
            self.file.close()


def _take(path: Path, kind: str, function: str, text: str, operation: str) -> dict[str, Any] | None:
    """Consume the first step of `kind` for this function whose phone occurs in `text`."""
    try:
        # "[]": nothing planned, no lock taken. (Empty is not "nothing": another worker may
        # be writing it back, and a step read then would be missed.)
        if path.stat().st_size == 2:
            return None
    except OSError:
        return None
    with _locked(path) as plan:
        for step in plan:
            if step.get("kind") != kind or step.get("function", function) != function:
                continue
            if step.get("operation", operation) != operation:
                continue
            if not step.get("phone") or str(step["phone"]) not in text:
                continue
            if step.get("contains") and str(step["contains"]) not in text:
                continue
            step["times"] = int(step.get("times", 1)) - 1
            plan[:] = [s for s in plan if int(s.get("times", 1)) > 0]
            return dict(step)
    return None


def install(function: str) -> None:
    """Worker side: hook botocore and httpx when a plan is configured."""
    raw = os.environ.get(ENV)
    if not raw:
        return
    path = Path(raw)
    _hook_aws(path, function)
    _hook_httpx(path, function)


def _hook_aws(path: Path, function: str) -> None:
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError, ReadTimeoutError

    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def make_api_call(self: Any, operation: str, params: dict[str, Any]) -> Any:
        service = self.meta.service_model.service_name
        if service in ("dynamodb", "sqs"):
            step = _take(path, service, function, json.dumps(params, default=str), operation)
            if step is not None:
                code = str(step.get("code", "ThrottlingError"))
                if code == "timeout":
                    raise ReadTimeoutError(endpoint_url=f"{service} (fault plan)")
                if operation == "TransactWriteItems":
                    items = params.get("TransactItems") or []
                    reasons: list[Any] = [{"Code": "None"} for _ in items]
                    reasons[int(step.get("index", -1))] = {"Code": code, "Message": "fault plan"}
                    raise ClientError(
                        {
                            "Error": {"Code": "TransactionCanceledException", "Message": code},
                            "CancellationReasons": reasons,
                        },
                        operation,
                    )
                raise ClientError({"Error": {"Code": code, "Message": "fault plan"}}, operation)
        return original(self, operation, params)

    BaseClient._make_api_call = make_api_call  # type: ignore[attr-defined]


def _hook_httpx(path: Path, function: str) -> None:
    try:
        import httpx
    except ImportError:  # a function that never calls 1MSG
        return
    original = httpx.Client.send

    def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        method = request.url.path.rsplit("/", 1)[-1]
        body = request.content.decode(errors="replace") if request.content else ""
        try:
            response = original(self, request, *args, **kwargs)
        except httpx.TimeoutException:
            # On a busy machine 1MSG's answer can be late: killed while waiting for it (as
            # at Lambda's timeout), 1MSG may have it all the same.
            if _take(path, "crash", function, body + str(request.url), method) is not None:
                os._exit(137)
            raise
        if _take(path, "crash", function, body + str(request.url), method) is not None:
            os._exit(137)  # killed after 1MSG answered, before the handler heard it
        return response

    httpx.Client.send = send  # type: ignore[method-assign]
