"""Section 4: a burst through the full local stack (devstack's `LocalStack`).

N inbound messages from N/4 chats (a tenth of them re-posted: 1MSG delivers some webhooks
twice) are POSTed to the gateway by a pool of threads, as 1MSG would. The 1MSG simulator
answers sendMessage after a realistic latency and posts back the echo and the acks, which
the webhook handles during the burst too. Measured:

* every request (chat) answered exactly once, counted on the simulator;
* throughput: messages per second until the last reply reached 1MSG;
* webhook -> sendMessage latency per chat (from the POST of its first message to the
  simulator receiving its reply), p50/p99, against its floor: the burst window the auto-reply
  waits by design plus 1MSG's latency;
* each function's environments, invocations, errors and peak memory (the workers'
  ``GET /stats``), against its MemorySize;
* how the time grows with N (time per message at the largest N over the smallest).

Each size runs on a fresh stack, the one `make run` starts (its moto is narrowed by
`devstack.moto_dynamodb`: a transaction costs what the items it names cost).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.latency import percentile
from bench.preload import PRELOAD_CHATS, RssSampler, preload
from bench.table import Row
from bench.units import TEXTS, inbound_body, phone, provider_id

ROOT = Path(__file__).resolve().parent.parent
LINEAR_TARGET = 1.5
DUPLICATE_SHARE = 0.1


@dataclass
class BurstRun:
    messages: int
    chats: int
    duplicates: int
    threads: int
    latency: float
    burst_seconds: float
    statuses: Counter[int] = field(default_factory=Counter)
    retries: int = 0
    ingest_seconds: float = 0.0
    reply_seconds: float = 0.0
    settle_seconds: float | None = None
    settled_share: float = 0.0  # of the echoes + acks, when the last reply left
    latencies: list[float] = field(default_factory=list)
    answered: Counter[str] = field(default_factory=Counter)
    functions: dict[str, dict[str, Any]] = field(default_factory=dict)
    memory_mb: dict[str, int] = field(default_factory=dict)
    timed_out: bool = False
    wall_seconds: float = 0.0
    setup_seconds: float = 0.0  # stack start and warm-up, before the first timed POST
    crm_events: int = 0  # what the local CRM subscriber received during the burst
    preloaded_chats: int = 0  # chats the table held before the burst
    preload_items: int = 0
    preload_seconds: float = 0.0
    rss_start_kb: int = 0  # the stack's main process (moto, gateway, pump): at the first POST
    rss_peak_kb: int = 0  # and its peak until the last reply

    @property
    def exactly_once(self) -> bool:
        return (
            len(self.answered) == self.chats
            and all(v == 1 for v in self.answered.values())
            and not self.timed_out
        )

    @property
    def per_message(self) -> float:
        return self.reply_seconds / self.messages if self.messages else 0.0

    @property
    def throughput(self) -> float:
        return self.messages / self.reply_seconds if self.reply_seconds else 0.0


@dataclass
class BurstResult:
    runs: list[BurstRun]
    skipped: list[tuple[int, str]]


def plan(messages: int, seed: int = 5, first_chat: int = 50_000) -> list[dict[str, Any]]:
    """The bodies to POST, in posting order: every chat's first message first, then the
    follow-ups; a tenth of the posts repeat a chat's previous message (same id)."""
    rng = random.Random(seed)  # noqa: S311 - test data
    chats = max(1, messages // 4)
    per_chat = [[] for _ in range(chats)]  # type: list[list[dict[str, Any]]]
    duplicates = round(messages * DUPLICATE_SHARE) if messages >= 10 else 0
    unique = messages - duplicates
    now = int(time.time())
    for i in range(unique):
        chat = i % chats
        body = inbound_body(
            phone(first_chat + chat), provider_id(rng), TEXTS[(chat + i) % len(TEXTS)], now
        )
        per_chat[chat].append(body)
    for _ in range(duplicates):
        chat = rng.randrange(chats)
        per_chat[chat].append(per_chat[chat][-1])
    order: list[dict[str, Any]] = []
    for slot in range(max(len(c) for c in per_chat)):
        order += [c[slot] for c in per_chat if slot < len(c)]
    return order


def run_burst(
    messages: int,
    *,
    latency: float = 0.15,
    threads: int = 16,
    timeout: float = 300.0,
    settle_timeout: float = 0.0,
    root: Path = ROOT,
    log: Callable[[str], None] | None = None,
    preload_chats: int = 0,
) -> BurstRun:
    from devstack.stack import LocalStack

    started = time.monotonic()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ONEMSG_API_URL", "LOG_LEVEL", "POWERTOOLS_LOG_LEVEL", "API_PORT")
    }
    env["API_PORT"] = "0"
    bodies = plan(messages)
    chats = len({b["messages"][0]["chatId"] for b in bodies})
    ids = [b["messages"][0]["id"] for b in bodies]
    with LocalStack(root, env=env, echo_logs=False) as stack:
        sim = stack.simulator
        burst_seconds = _burst_seconds(stack)
        run = BurstRun(
            messages=messages,
            chats=chats,
            duplicates=len(ids) - len(set(ids)),
            threads=threads,
            latency=latency,
            burst_seconds=burst_seconds,
        )
        with httpx.Client(
            base_url=stack.api_url,
            timeout=60,
            limits=httpx.Limits(max_connections=threads, max_keepalive_connections=threads),
        ) as client:
            crm = _CrmConsumer(stack)
            crm.start()
            _warm_up(stack, client, threads)
            if preload_chats:
                loading = time.monotonic()
                run.preload_items = preload(stack, preload_chats)
                run.preloaded_chats = preload_chats
                run.preload_seconds = time.monotonic() - loading
            run.setup_seconds = time.monotonic() - started
            sim.reset()  # forget the warm-up; the webhook and the acks setting stay
            sim.set_options(latency=latency)
            first_post: dict[str, float] = {}
            lock = threading.Lock()
            retries = [0]

            def post(body: dict[str, Any]) -> int:
                chat_id = body["messages"][0]["chatId"]
                with lock:
                    first_post.setdefault(chat_id, time.time())
                status = 0
                for attempt in range(4):
                    status = client.post(stack.webhook_path, json=body).status_code
                    if status < 500:
                        break
                    with lock:
                        retries[0] += 1
                    time.sleep(0.2 * 2**attempt)  # 1MSG's guaranteed hooks retry like this
                return status

            crm.received = 0  # the warm-up's events are not the burst's
            rss = RssSampler()
            rss.start()
            run.rss_start_kb = rss.start_kb
            t0 = time.time()
            with ThreadPoolExecutor(threads, thread_name_prefix="bench-post") as pool:
                statuses = list(pool.map(post, bodies))
            run.ingest_seconds = time.time() - t0
            run.statuses = Counter(statuses)
            run.retries = retries[0]
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                sent = sim.sent()
                if len({s["chatId"] for s in sent}) >= chats:
                    break
                time.sleep(0.1)
            else:
                run.timed_out = True
                _explain(stack, log)
            sent = sim.sent()
            run.answered = Counter(str(s["chatId"]) for s in sent)
            if sent:
                run.reply_seconds = max(float(s["at"]) for s in sent) - t0
            first_reply: dict[str, float] = {}
            for s in sent:
                first_reply.setdefault(str(s["chatId"]), float(s["at"]))
            run.latencies = [at - first_post[c] for c, at in first_reply.items() if c in first_post]
            run.rss_peak_kb = rss.stop()
            run.settled_share, run.settle_seconds = _settle(stack, len(sent), t0, settle_timeout)
            # Whatever is still queued for the sender goes through: a late duplicate reply
            # would show up here.
            stack.drain(15)
            run.answered = Counter(str(s["chatId"]) for s in sim.sent())
            crm.stop()
            run.crm_events = crm.received
        for spec in stack.template.functions():
            run.functions[spec.logical_id] = (
                stack.invoker.stats(spec.logical_id) if stack.invoker else {}
            )
            run.memory_mb[spec.logical_id] = spec.memory_size
    run.wall_seconds = time.monotonic() - started
    return run


class _CrmConsumer(threading.Thread):
    """Reads the local CRM subscriber's queue as a CRM would. Left unread, it grows with
    every event, and moto's SendMessage walks the whole queue (for its attributes) each
    time: the burst would slow down for a reason that is neither the bundle's nor AWS's."""

    def __init__(self, stack: Any) -> None:
        super().__init__(name="bench-crm", daemon=True)
        self.sqs = stack.client("sqs")
        self.url = stack.aws.crm_queue_url if stack.aws is not None else ""
        self.received = 0
        self._stopping = threading.Event()

    def run(self) -> None:
        while self.url and not self._stopping.is_set():
            try:
                got = self.sqs.receive_message(
                    QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                ).get("Messages", [])
                if got:
                    self.sqs.delete_message_batch(
                        QueueUrl=self.url,
                        Entries=[
                            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                            for i, m in enumerate(got)
                        ],
                    )
                    self.received += len(got)
            except Exception:
                self._stopping.wait(0.5)  # the stack is stopping: nothing to report

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=5)


def _explain(stack: Any, log: Callable[[str], None] | None) -> None:
    """Some chats got no reply: show the functions' last warnings and errors."""
    if log is None or stack.invoker is None:
        return
    for spec in stack.template.functions():
        path = stack.invoker.log_path(spec.logical_id)
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        bad = [ln for ln in lines if '"ERROR"' in ln or '"WARNING"' in ln or "Traceback" in ln]
        for line in bad[-5:]:
            log(f"{spec.logical_id}: {line[:300]}")


def _burst_seconds(stack: Any) -> float:
    """The auto-reply's wait for the rest of a burst, as the template configures it."""
    from devstack.template import resolve

    for spec in stack.template.functions():
        value = resolve(spec.environment, stack.ctx).get("BURST_SECONDS")
        if value not in (None, ""):
            return float(value)
    return 0.0


def _warm_up(stack: Any, client: httpx.Client, threads: int) -> None:
    """A small concurrent burst first, so the functions have scaled out (each new worker is
    a cold start, which the burst should not be made of) and the caches are warm."""
    bodies = plan(threads, seed=1, first_chat=90_000)
    chats = {b["messages"][0]["chatId"] for b in bodies}
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda b: client.post(stack.webhook_path, json=b), bodies))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if chats <= {s["chatId"] for s in stack.simulator.sent()}:
            break
        time.sleep(0.1)
    stack.drain(30)


def _settle(stack: Any, sends: int, t0: float, timeout: float) -> tuple[float, float | None]:
    """(share of the echoes and acks through the webhook when the last reply left, seconds
    until all were through or None if not within ``timeout``). The simulator posts them one
    at a time, so under a burst they lag behind: a limit of the simulator, not of 1MSG."""
    sim = stack.simulator
    expected = max(1, sends * (1 + len(sim.options().get("acks", []))))
    last_reply = max((float(s["at"]) for s in sim.sent()), default=t0)
    done = [d for d in sim.deliveries() if d.get("kind") in ("echo", "ack")]
    share = sum(1 for d in done if float(d["at"]) <= last_reply) / expected
    deadline = time.monotonic() + timeout
    while True:
        done = [d for d in sim.deliveries() if d.get("kind") in ("echo", "ack")]
        if len(done) >= expected:
            stack.drain(max(1.0, deadline - time.monotonic()))
            return share, max(float(d["at"]) for d in done) - t0
        if time.monotonic() >= deadline:
            return share, None
        time.sleep(0.2)


def measure_bursts(
    sizes: list[int],
    *,
    budget_seconds: float,
    latency: float = 0.15,
    threads: int = 16,
    log: Callable[[str], None] | None = None,
    preload_chats: int = PRELOAD_CHATS,
) -> BurstResult:
    """Run the sizes in order while the projected time fits the budget; right after the
    smallest, the same burst on a table already holding `preload_chats` chats."""
    runs: list[BurstRun] = []
    skipped: list[tuple[int, str]] = []
    started = time.monotonic()
    plans = [(size, 0) for size in sizes]
    if sizes and preload_chats:
        plans.insert(1, (sizes[0], preload_chats))
    for size, chats in plans:
        spent = time.monotonic() - started
        if runs and not chats:
            last = runs[-1]
            per_message = (last.wall_seconds - last.setup_seconds) / last.messages
            projected = last.setup_seconds - last.preload_seconds + per_message * size * 1.15
            if spent + projected > budget_seconds:
                skipped.append(
                    (size, f"projected {projected:.0f} s, {budget_seconds - spent:.0f} s left")
                )
                continue
        label = f"{size} messages" + (f" on a table holding {chats} chats" if chats else "")
        if log:
            log(f"burst: {label} ...")
        run = run_burst(
            size,
            latency=latency,
            threads=threads,
            timeout=max(60.0, size * 0.2),
            log=log,
            preload_chats=chats,
        )
        runs.append(run)
        if log:
            log(
                f"burst: {label}: replies in {run.reply_seconds:.1f} s, "
                f"{run.wall_seconds:.0f} s with setup"
                + (f" (preload {run.preload_seconds:.0f} s)" if chats else "")
            )
    return BurstResult(runs, skipped)


def burst_rows(result: BurstResult) -> list[Row]:
    rows: list[Row] = []
    empty = [run for run in result.runs if not run.preloaded_chats]
    if not empty:
        return rows
    smallest = empty[0]
    for run in result.runs:
        if run.preloaded_chats:
            rows += _preloaded_rows(run, empty)
            continue
        exact = f"{len(run.answered)}/{run.chats} chats answered" + (
            ", exactly once"
            if run.exactly_once
            else f", {sum(1 for v in run.answered.values() if v > 1)} more than once"
            + (", timed out" if run.timed_out else "")
        )
        growth = run.per_message / smallest.per_message if smallest.per_message else None
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(run.statuses.items()))
        rows.append(
            Row(
                section="4 burst",
                measure=f"{run.messages} messages from {run.chats} chats "
                f"({run.duplicates} re-posted), {run.threads} posting threads",
                bundle=f"{run.throughput:.1f} msg/s; replies done in {run.reply_seconds:.1f} s",
                floor=f"time/message vs {smallest.messages} messages: "
                f"{run.per_message * 1000:.1f} ms vs {smallest.per_message * 1000:.1f} ms",
                ratio=growth,
                target=f"<= {LINEAR_TARGET}x (linear)",
                ok=None if growth is None else growth <= LINEAR_TARGET and run.exactly_once,
                notes=f"{exact}; HTTP {statuses}; {run.retries} retried; "
                f"{run.crm_events} CRM events; posted in "
                f"{run.ingest_seconds:.1f} s; echoes+acks: {run.settled_share:.0%} through "
                "when the last reply left, "
                + (
                    f"all by {run.settle_seconds:.1f} s"
                    if run.settle_seconds is not None
                    else "the rest later (the simulator posts them one at a time)"
                ),
            )
        )
        floor = run.burst_seconds + run.latency
        for label, q in (("p50", 0.5), ("p99", 0.99)):
            value = percentile(run.latencies, q)
            rows.append(
                Row(
                    section="4 burst",
                    measure=f"{run.messages} messages: webhook -> sendMessage, {label}",
                    bundle=f"{value:.2f} s",
                    floor=f"{floor:.2f} s: the burst wait ({run.burst_seconds:g} s, by design) "
                    f"+ 1MSG latency ({run.latency * 1000:.0f} ms)",
                    ratio=value / floor if floor else None,
                    notes=f"{len(run.latencies)} chats",
                )
            )
    largest = empty[-1]
    for name, stats in largest.functions.items():
        if not stats:
            continue
        rss_mb = stats.get("max_rss_kb", 0) / 1024
        memory = largest.memory_mb.get(name, 0)
        rows.append(
            Row(
                section="4 burst",
                measure=f"{name}: peak memory ({largest.messages}-message burst)",
                bundle=f"{rss_mb:.0f} MB",
                floor=f"MemorySize {memory} MB",
                ratio=rss_mb / memory if memory else None,
                target="<= 1.0x",
                ok=rss_mb <= memory if memory else None,
                notes=f"{stats.get('environments', 0)} environments, "
                f"{stats.get('invocations', 0)} invocations, {stats.get('errors', 0)} errors; "
                "RSS of a local worker (dev venv), not Lambda's billed memory",
            )
        )
    for size, why in result.skipped:
        rows.append(Row(section="4 burst", measure=f"{size} messages", bundle="not run", notes=why))
    return rows


def _preloaded_rows(run: BurstRun, empty: list[BurstRun]) -> list[Row]:
    """The burst on a full table against the same burst on an empty one, and the main
    process's memory in both."""
    same = next((r for r in empty if r.messages == run.messages), None)
    ratio = run.per_message / same.per_message if same and same.per_message else None
    exact = f"{len(run.answered)}/{run.chats} chats answered" + (
        ", exactly once" if run.exactly_once else ", NOT exactly once"
    )
    rows = [
        Row(
            section="4 burst",
            measure=f"{run.messages} messages on a table already holding "
            f"{run.preloaded_chats} chats ({run.preload_items} items)",
            bundle=f"{run.throughput:.1f} msg/s; replies done in {run.reply_seconds:.1f} s",
            floor="the same burst on an empty table: "
            + (f"{same.throughput:.1f} msg/s" if same else "not run"),
            ratio=ratio,
            target=f"<= {LINEAR_TARGET}x",
            ok=None if ratio is None else ratio <= LINEAR_TARGET and run.exactly_once,
            notes=f"{exact}; preloaded in {run.preload_seconds:.0f} s (BatchWriteItem); "
            f"webhook -> sendMessage p50 {percentile(run.latencies, 0.5):.2f} s, "
            f"p99 {percentile(run.latencies, 0.99):.2f} s",
        )
    ]
    for other in ([same] if same else []) + [run]:
        full = f"{other.preloaded_chats} chats stored" if other.preloaded_chats else "empty table"
        rows.append(
            Row(
                section="4 burst",
                measure=f"stack's main process (moto, gateway, pump): peak memory, "
                f"{other.messages}-message burst, {full}",
                bundle=f"{other.rss_peak_kb / 1024:.0f} MB",
                floor=f"{other.rss_start_kb / 1024:.0f} MB at the first POST",
                ratio=other.rss_peak_kb / other.rss_start_kb if other.rss_start_kb else None,
                notes="resident memory of the process that runs `make run`'s moto server; "
                "the ratio is its growth during the burst",
            )
        )
    return rows
