"""``python -m devstack run | demo | faults | sam-local | invoke <LogicalId> <event.json>`` (the
Makefile's targets)."""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from devstack.pump import DEFAULT_CONCURRENCY
from devstack.runtime import FunctionError
from devstack.stack import PROJECT_ROOT, LocalStack, is_loopback
from devstack.template import Template


def run(verbose: bool) -> int:
    """Serve the stack until Ctrl-C or SIGTERM; then stop everything it started."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print("Starting the local stack ...", flush=True)
    with LocalStack(echo_logs=True if verbose else None, keep_logs=True) as stack:
        print_summary(stack)
        while not stop.wait(0.5):
            pass
        print("\nStopping ...", flush=True)
    print(f"Stopped. Function logs kept in {stack.log_dir}", flush=True)
    return 0


def print_summary(stack: LocalStack) -> None:
    s = stack.settings
    assert stack.ctx is not None and stack.aws is not None and stack.invoker is not None
    ctx, template = stack.ctx, stack.template
    onemsg = f"{stack.onemsg_url} ({'simulator' if stack.simulator else 'ONEMSG_API_URL'})"
    rows = [
        ("template", str(template.path)),
        ("stack name", ctx.stack_name),
        ("1MSG API", onemsg),
        ("channel id", f"{s.channel_id}  (ONEMSG_CHANNEL_ID)"),
        (
            "1MSG token",
            f"{s.masked_token}  (ONEMSG_TOKEN; SSM {ctx.parameters.get('OneMsgTokenParameter')})",
        ),
        (
            "webhook secret",
            f"(WEBHOOK_SECRET, in SSM {ctx.parameters.get('WebhookSecretParameter')})",
        ),
        ("AWS (moto)", f"{stack.aws.endpoint_url}  region {ctx.region}, dummy credentials"),
        ("tables", ", ".join(ctx.physical_name(t.logical_id) for t in template.tables())),
        ("queues", ", ".join(ctx.physical_name(q.logical_id) for q in template.queues())),
        (
            "event buses",
            ", ".join(ctx.physical_name(b.logical_id) for b in template.event_buses())
            + "  -> local CRM subscriber queue",
        ),
        (
            "functions",
            ", ".join(f"{lid} ({ms:.0f} ms init)" for lid, ms in stack.invoker.init_ms().items()),
        ),
        ("function logs", str(stack.log_dir)),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    print("\nRoutes (from template.yaml):")
    for route in template.routes():
        note = "  (AWS_IAM: open locally, no signature checked)" if route.iam_auth else ""
        print(f"  {route.method:<6} {stack.api_url}{route.path}  -> {route.function}{note}")
    for source in template.sqs_sources():
        print(
            f"  SQS    {ctx.physical_name(source.queue)} -> {source.function} "
            f"(batch {source.batch_size}, "
            f"{source.maximum_concurrency or DEFAULT_CONCURRENCY} pollers)"
        )
    for schedule in template.schedule_sources():
        print(
            f"  timer  every {stack.pump.schedule_seconds if stack.pump else '?'} s "
            f"({schedule.schedule} on AWS) -> {schedule.function}"
        )
    if stack.registration_error:
        where = (
            f"not registered: {stack.onemsg_url} has no usable webhook API "
            f"({stack.registration_error}); point it here by hand"
        )
    elif stack.simulator or is_loopback(stack.onemsg_url):
        where = f"registered with {stack.onemsg_url}, acks on"
    else:
        where = "1MSG cannot reach 127.0.0.1: expose it through a tunnel and register that"
    print(f"\nWebhook URL ({where}):\n  {stack.webhook_url}")
    now = int(time.time())  # the product opens the 24 h window from this provider timestamp
    example = {
        "instanceId": s.channel_id,
        "messages": [
            {
                "id": f"wamid.local{now}",
                "body": "Hi! How much is delivery to Almaty?",
                "type": "chat",
                "senderName": "Maria",
                "chatName": "Maria",
                "chatId": "77011234567@c.us",
                "author": "77011234567@c.us",
                "fromMe": False,
                "self": 0,
                "time": now,
            }
        ],
    }
    print("\nTry:")
    print(
        f"  curl -s -X POST {shlex.quote(stack.webhook_url)} -H 'content-type: application/json' "
        f"-d {shlex.quote(json.dumps(example, separators=(',', ':')))}"
    )
    print(f"  curl -s {stack.api_url}/leads/77011234567@c.us")
    if stack.simulator:
        print(f"  curl -s {stack.onemsg_url}/_sim/sent")
    print("\nServing. Ctrl-C to stop.", flush=True)


def invoke(logical_id: str, event_path: str) -> int:
    """Run one event through one function's real handler; the result JSON on stdout."""
    known = [fn.logical_id for fn in Template.load(PROJECT_ROOT).functions()]
    if logical_id not in known:
        print(
            f"{logical_id} is not a function of template.yaml: {', '.join(known)}", file=sys.stderr
        )
        return 2
    path = Path(event_path)
    if not path.is_absolute() and not path.exists():
        path = PROJECT_ROOT / path
    if not path.is_file():
        print(f"no event file {event_path} (events live in events/<function>/)", file=sys.stderr)
        return 2
    event = json.loads(path.read_text(encoding="utf-8"))
    with LocalStack(serve=False, functions=[logical_id], echo_logs=True) as stack:
        try:
            result = stack.invoke(logical_id, event)
        except FunctionError as exc:
            print(json.dumps(exc.payload, indent=2, ensure_ascii=False))
            return 1
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["sam-local"]:
        # Real `sam local invoke` on every sample event (needs Docker); see devstack/sam_local.py.
        from devstack.sam_local import main as sam_local_main

        return sam_local_main(argv[1:])
    if argv[:1] == ["faults"]:
        # Its own options (--seed, --chats, --only); see devstack/faults/.
        from devstack.faults import main as faults_main

        return faults_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser("run", help="serve the stack locally until Ctrl-C")
    run_cmd.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="echo the functions' logs and the gateway's access log",
    )
    commands.add_parser("demo", help="answer a client's message end to end, print the timeline")
    commands.add_parser(
        "faults", help="fault scenarios against the full local stack (see devstack/faults/)"
    )
    invoke_cmd = commands.add_parser("invoke", help="run one event through one function")
    invoke_cmd.add_argument("function", help="logical id, e.g. WebhookFunction")
    invoke_cmd.add_argument("event", help="event file, e.g. events/webhook/inbound.json")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.verbose)
    if args.command == "demo":
        from devstack.demo import main as demo_main

        return demo_main()
    return invoke(args.function, args.event)


if __name__ == "__main__":
    sys.exit(main())
