"""`python -m bench`: run every section and print ONE table (ratio first).

Progress goes to stderr; the table, what was run and the wall time to stdout. Nothing here
asserts a time: a ratio over its target is printed as MISS and the exit status stays 0 (a
section that could not run at all exits 1).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.table import Row, render

ROOT = Path(__file__).resolve().parent.parent
README_HEADING = "## Performance and cost"
SECTIONS = ("cold", "extractor", "calls", "latency", "burst", "cost")
DEFAULT_SIZES = (200, 1000, 2000)
TOTAL_BUDGET_S = 540.0  # `make bench` must finish within 10 minutes on a clean clone


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as info:
            kb = int(info.readline().split()[1])
            memory = f", {kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def machine_load(at_start: float) -> str:
    """The 1-minute load average when the bench started (what other work was running) and
    at its end (the burst's own load counts there)."""
    other = "other work running" if at_start > 0.5 else "otherwise idle"
    at_end = os.getloadavg()[0]
    return f"; load average {at_start:.1f} at the start ({other}), {at_end:.1f} at the end"


def _log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", default=",".join(SECTIONS), help="sections, comma-separated")
    parser.add_argument("--runs", type=int, default=11, help="cold-start rounds (median)")
    parser.add_argument(
        "--extractor-rounds", type=int, default=5, help="passes over the labelled set"
    )
    parser.add_argument("--conversations", type=int, default=5, help="per call-count pass")
    parser.add_argument("--samples", type=int, default=100, help="latency samples per kind")
    parser.add_argument(
        "--sizes",
        default=",".join(str(s) for s in DEFAULT_SIZES),
        help="burst sizes (messages), run in order while they fit the time budget",
    )
    parser.add_argument("--budget", type=float, default=TOTAL_BUDGET_S, help="seconds, total")
    parser.add_argument("--threads", type=int, default=16, help="posting threads in the burst")
    parser.add_argument("--onemsg-latency", type=float, default=0.15, help="seconds")
    parser.add_argument(
        "--write-readme",
        action="store_true",
        default=os.environ.get("BENCH_README") == "1",
        help=f"also write the cost table under '{README_HEADING}' at the end of README.md "
        "(or BENCH_README=1 make bench)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set(SECTIONS)
    if unknown:
        print(f"unknown sections: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    started = time.monotonic()
    load_at_start = os.getloadavg()[0]
    rows: list[Row] = []
    ran: list[str] = []
    layer = str(ROOT / "layers" / "common")
    if layer not in sys.path:
        sys.path.insert(0, layer)

    cold = None
    if "cold" in only:
        from bench.coldstart import cold_start_rows, measure_cold_start

        _log(f"cold start: {args.runs} interleaved rounds of every function's variants")
        cold = measure_cold_start(runs=args.runs)
        rows += cold_start_rows(cold)
        ran.append(f"cold start: median of {args.runs} interleaved rounds")

    if "extractor" in only:
        from bench.extractor import extractor_rows, measure_extractor

        _log(f"extractor: the labelled set, {args.extractor_rounds} rounds")
        extracted = measure_extractor(rounds=args.extractor_rounds)
        rows += extractor_rows(extracted)
        ran.append(
            f"extractor: {extracted.requests} labelled requests x {extracted.rounds} rounds, "
            "in process"
        )

    work = poller = None
    table_per_conversation = 0.0
    memory_mb: dict[str, int] = {}
    if only & {"calls", "latency", "cost"}:
        from bench.harness import Harness
        from bench.latency import latency_rows, measure_latency
        from bench.work import (
            duration_rows,
            measure_poller,
            measure_work,
            single_write_rows,
            table_bytes,
            work_rows,
        )

        with Harness(ROOT) as h:
            memory_mb = dict(h.memory_mb)
            if only & {"calls", "cost"}:
                _log(f"AWS calls: {args.conversations} conversations counted, as many timed")
                work = measure_work(h, conversations=args.conversations)
                poller = measure_poller(h)
                stored, _items = table_bytes(h)
                table_per_conversation = stored / (2 * args.conversations + 1)
                if "calls" in only:
                    rows += work_rows(work) + duration_rows(work) + single_write_rows(h)
                ran.append(
                    f"AWS calls: {args.conversations} conversations (+1 warm-up) through the "
                    "real handlers, in process, moto server"
                )
            if "latency" in only:
                _log(f"warm latency: {args.samples} inbound + {args.samples} acks, with floors")
                latency = measure_latency(h, samples=args.samples)
                rows += latency_rows(latency)
                ran.append(f"warm latency: {args.samples} samples per kind, interleaved")

    if "burst" in only:
        from bench.burst import burst_rows, measure_bursts

        left = args.budget - (time.monotonic() - started) - 10
        _log(f"burst: sizes {sizes}, {left:.0f} s left of the budget")
        bursts = measure_bursts(
            sizes,
            budget_seconds=max(0.0, left),
            latency=args.onemsg_latency,
            threads=args.threads,
            log=_log,
        )
        rows += burst_rows(bursts)
        done = ", ".join(str(r.messages) for r in bursts.runs) or "none"
        skipped = ", ".join(f"{s} ({why})" for s, why in bursts.skipped)
        ran.append(
            f"burst: {done} messages, {args.threads} threads, 1MSG latency "
            f"{args.onemsg_latency * 1000:.0f} ms" + (f"; skipped {skipped}" if skipped else "")
        )

    costs = None
    if "cost" in only and work is not None:
        from bench.cost import CostInputs, cost_rows, estimate
        from devstack.template import Template

        cold_s = {}
        if cold is not None:
            cold_s = {name: modes["full"].median for name, modes in cold.functions.items()}
        costs = estimate(
            CostInputs(
                work=work,
                memory_mb=memory_mb,
                cold_start_s=cold_s,
                poller=poller,
                table_bytes_per_conversation=table_per_conversation,
                metric_names=len(work.metric_names),
                tracing=str(Template.load(ROOT).parameter_defaults().get("Tracing") or "Active"),
            )
        )
        rows += cost_rows(costs)
        ran.append("cost: us-east-1 list prices, arm64 Lambda, from the counts above")

    wall = time.monotonic() - started
    load = machine_load(load_at_start)
    print(render(rows))
    print()
    print(f"Machine: {machine()}{load}")
    print("Ran: " + "; ".join(ran))
    print(f"Wall time: {wall:.0f} s")
    if args.write_readme and costs is not None:
        from bench.cost import readme_table

        write_readme(ROOT / "README.md", readme_section(readme_table(costs), rows, wall, load))
        _log("README.md: cost table written under " + README_HEADING)
    return 0


def readme_section(cost_table: str, rows: list[Row], wall: float, load: str = "") -> str:
    headline = [r for r in rows if r.ok is not None]
    summary = [
        "| Ratio | Target | | Measure |",
        "|---:|---|---|---|",
        *(
            f"| {'' if r.ratio is None else f'{r.ratio:.2f}x'} | {r.target} | "
            f"{'ok' if r.ok else 'MISS'} | {r.section}: {r.measure} ({r.bundle}) |"
            for r in headline
        ),
    ]
    return "\n".join(
        [
            README_HEADING,
            "",
            "`make bench` measures the bundle against the minimum its work needs, side by side "
            "in one run, and prints one table (ratios first): cold start against "
            '`import boto3; boto3.client("dynamodb")` (and what loading the request '
            "extractor costs), the extractor's time per request on the labelled set, AWS "
            "calls per unit of work, warm "
            "webhook latency against the same calls made with bare boto3 on the same moto "
            "server, a burst through the local stack (on an empty table and on one already "
            "holding 5,000 chats), and the cost below. Benchmarks print "
            "figures; the tests never assert a time.",
            "",
            f"Measured on {dt.date.today().isoformat()}: {machine()} (`make bench`, {wall:.0f} s"
            f"{load}).",
            "",
            "Cold start: each function loads in INIT what its first request needs and nothing "
            "more, with the garbage collector off while it loads, then `gc.freeze()`; each "
            "option is a row of the bench. The webhook and the lead API read the HTTP API's "
            "event themselves and dispatch on its `routeKey` (`session_reply.http_api`): "
            "Powertools' `APIGatewayHttpResolver` is tens of milliseconds of INIT, and what "
            "they give up with it (CORS, compression, a routing table for many routes) three "
            "routes that only the gateway invokes do not use; the lead API keeps Powertools' "
            "idempotency utility, which pays for itself. A new auto-reply's first "
            "sender invocation only waits out the burst, so the sender's INIT builds the queue "
            "and the state table only, and the send path (the flows, the 1MSG client and its "
            "TLS context, the token, the phone-number check, the extractor's rules and the "
            "fastText model) is loaded after that first batch, while its record waits; a "
            "record that sends at once (a manager's message) loads what it needs as it goes "
            "(the row 'first send with no burst wait'). The poller builds the 1MSG client and "
            "the token only in a run that asks 1MSG; the lead API and the poller no longer "
            "load the send flow; the SSM provider and the lead API's idempotency persistence "
            "use clients of boto3's default session.",
            "",
            "SnapStart (opt-in: `SnapStart=PublishedVersions`): Lambda runs INIT once per "
            "published version and a cold start restores that snapshot instead. Every deploy "
            "publishes a version of each function it changes (the layer included) and the API, "
            "the queue and the schedule invoke the `live` alias, whichever the setting: "
            "versions cost nothing, and SAM cannot make the alias conditional. Its price: "
            "$0.0000015046 per GB-second of cached snapshot (256 MB: about $0.98 a month per "
            "function version, $3.90 for the four) plus $0.0001397998 per GB restored (256 MB: "
            "$0.035 per 1,000 cold starts). Its gain: the cold starts measured below become a "
            "restore, whose own time Lambda reports as `Restore Duration` and which this "
            "machine cannot measure. Worth it where cold starts are frequent and someone waits "
            "for them (a busy lead API or webhook), not for a quiet channel, whose fixed cost "
            "it would multiply (about $3.90 a month against the cents per 1,000 conversations "
            "below). After a restore every environment reseeds `random` (the retry jitter) "
            "through Lambda's runtime hook, so they do not all retry at the same moments.",
            "",
            "DynamoDB writes: a transaction bills each item twice. A send's two transactions "
            "each keep a guarantee and stay: the claim takes the send key together with the "
            "lead's request fields and the team's round-robin turn (one reply, fair turns), "
            "and the result stores the provider id with the pointer statuses join on and the "
            "lead's move to auto_replied (no status lost, no lead left unescalated). A "
            "transaction of one item (a refused, skipped, retried or QUEUED send's outcome) "
            "is a plain conditional write, at half the units; the happy path has none, so the "
            "cost table's send line is unchanged by it.",
            "",
            "### AWS cost of 1,000 conversations",
            "",
            "One conversation: a client's message, the auto-reply, 1MSG's echo of it and three "
            "statuses (sent, delivered, read). us-east-1 list prices, arm64 Lambda at the "
            "template's MemorySize; 1MSG's own fees aside.",
            "",
            cost_table,
            "",
            "### Against the targets",
            "",
            *summary,
            "",
        ]
    )


def write_readme(path: Path, section: str) -> None:
    """Put `section` at the end of the README, or in place of an earlier run's (up to the
    next second-level heading, so whatever follows it stays)."""
    text = path.read_text(encoding="utf-8")
    found = re.search(rf"^{re.escape(README_HEADING)}\s*$", text, flags=re.MULTILINE)
    if found is None:
        path.write_text(text.rstrip("\n") + "\n\n" + section, encoding="utf-8")
        return
    after = re.search(r"^## ", text[found.end() :], flags=re.MULTILINE)
    rest = "" if after is None else text[found.end() + after.start() :]
    head = text[: found.start()]
    path.write_text(head + section + ("\n" + rest if rest else ""), encoding="utf-8")
