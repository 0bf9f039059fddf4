"""Section 5: the AWS cost of 1,000 conversations, from what the other sections counted.

A conversation: one inbound message (the webhook), the auto-reply (the sender, plus the run
that waits out the burst window), 1MSG's echo of the reply and three statuses (sent,
delivered, read), each a webhook call. Every figure comes from the counted calls, the
measured handler durations and log bytes, and the template's MemorySize, at published
us-east-1 prices (arm64 Lambda). 1MSG's own fees are not included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bench.model_cost import model_cost_rows
from bench.table import Row
from bench.units import ACK, ECHO, FIRST, SEND, SENDER_IDLE
from bench.work import UnitStats, WorkResult

CONVERSATIONS = 1_000
TARGET_USD = 0.05
ONEMSG_LATENCY_S = 0.15  # the sender waits for 1MSG's answer, billed as Lambda duration
PLATFORM_LOG_BYTES = 450  # Lambda's own JSON platform.start + platform.report lines
LOG_EVENT_OVERHEAD = 26  # bytes CloudWatch Logs counts per log event

# us-east-1 list prices.
LAMBDA_ARM_GB_S = 0.0000133334
LAMBDA_REQUEST = 0.20 / 1e6
HTTP_API_REQUEST = 1.00 / 1e6
SQS_FIFO_REQUEST = 0.50 / 1e6
DDB_WRU = 0.625 / 1e6
DDB_RRU = 0.125 / 1e6
EVENTBRIDGE_EVENT = 1.00 / 1e6
LOGS_INGEST_GB = 0.50
XRAY_TRACE = 5.00 / 1e6
CW_METRIC_MONTH = 0.30
CW_ALARM_MONTH = 0.10
DDB_STORAGE_GB_MONTH = 0.25
DDB_PITR_GB_MONTH = 0.20
GB = 1024**3

WEBHOOK = "WebhookFunction"
SENDER = "SenderFunction"


@dataclass
class Part:
    """One unit of the conversation: how many times it happens and what each one costs."""

    unit: str
    function: str
    times: float  # per conversation
    stats: UnitStats
    extra_seconds: float = 0.0  # time the handler waits on something not measured here

    @property
    def billed_ms(self) -> float:
        return math.ceil((self.stats.median_seconds + self.extra_seconds) * 1000)


@dataclass
class CostInputs:
    work: WorkResult
    memory_mb: dict[str, int]
    cold_start_s: dict[str, float] = field(default_factory=dict)  # function -> INIT seconds
    poller: UnitStats | None = None  # one scheduled StatusPoller run
    table_bytes_per_conversation: float = 0.0
    metric_names: int = 0
    tracing: str = "PassThrough"  # the template's Tracing parameter default


@dataclass
class CostLine:
    name: str
    usd: float  # per CONVERSATIONS conversations
    basis: str


@dataclass
class Costs:
    lines: list[CostLine]
    total: float
    cold_upper: float  # Lambda INIT if every invocation were a cold start
    fixed: list[CostLine]  # per month, whatever the traffic
    tracing: str = "PassThrough"  # the mode `total` is for (the template's default)
    xray_active: float = 0.0  # what Tracing=Active adds to `total` (0 when it is the default)


def parts(work: WorkResult) -> list[Part]:
    units = work.units
    idle = units.get(SENDER_IDLE)
    out = [
        Part(FIRST, WEBHOOK, 1, units[FIRST]),
        Part(ECHO, WEBHOOK, 1, units[ECHO]),
        Part(ACK, WEBHOOK, 3, units[ACK]),
        Part(SEND, SENDER, 1, units[SEND], ONEMSG_LATENCY_S),
    ]
    if idle is not None and idle.samples:
        out.append(Part(SENDER_IDLE, SENDER, len(idle.samples) / work.conversations, idle))
    return out


def estimate(inputs: CostInputs) -> Costs:
    n = CONVERSATIONS
    ps = parts(inputs.work)
    invocations = sum(p.times for p in ps)
    gb_s = sum(
        p.times * p.billed_ms / 1000 * inputs.memory_mb.get(p.function, 256) / 1024 for p in ps
    )
    wru = sum(p.times * (p.stats.wru + p.stats.gsi_wru) for p in ps)
    rru = sum(p.times * p.stats.rru for p in ps)
    sqs_by_functions = sum(p.times * p.stats.requests("sqs") for p in ps)
    sender_runs = sum(p.times for p in ps if p.function == SENDER)
    sqs_esm = sender_runs + 1  # a ReceiveMessage per sender run, a delete per reply
    events = sum(p.times * p.stats.events for p in ps)
    webhook_requests = sum(p.times for p in ps if p.function == WEBHOOK)
    log_events = sum(p.times * (p.stats.mean_log_lines + 2) for p in ps)
    log_bytes = sum(p.times * (p.stats.mean_log_bytes + PLATFORM_LOG_BYTES) for p in ps)
    log_bytes += log_events * LOG_EVENT_OVERHEAD
    breakdown = ", ".join(f"{p.unit} {p.times:g}x{p.billed_ms:.0f} ms" for p in ps)
    wru_by = ", ".join(f"{p.unit} {p.times * (p.stats.wru + p.stats.gsi_wru):g}" for p in ps)
    lines = [
        CostLine(
            "Lambda requests",
            n * invocations * LAMBDA_REQUEST,
            f"{invocations:g} invocations per conversation",
        ),
        CostLine(
            "Lambda duration (arm64, warm)",
            n * gb_s * LAMBDA_ARM_GB_S,
            f"{gb_s * 1000:.2f} GB-ms per conversation: {breakdown} "
            f"(moto-server durations; sendMessage + {ONEMSG_LATENCY_S * 1000:.0f} ms of 1MSG)",
        ),
        CostLine(
            "HTTP API requests",
            n * webhook_requests * HTTP_API_REQUEST,
            f"{webhook_requests:g} webhook POSTs (inbound, echo, 3 acks)",
        ),
        CostLine(
            "SQS FIFO requests",
            n * (sqs_by_functions + sqs_esm) * SQS_FIFO_REQUEST,
            f"{sqs_by_functions:g} by the functions (SendMessage, ChangeMessageVisibility) + "
            f"{sqs_esm:g} by Lambda's poller (a receive per sender run, a delete)",
        ),
        CostLine(
            "DynamoDB writes (on-demand)",
            n * wru * DDB_WRU,
            f"{wru:g} WRU per conversation (transactions 2x, index writes included, "
            f"cancelled transactions counted): {wru_by}",
        ),
        CostLine(
            "DynamoDB reads (on-demand)",
            n * rru * DDB_RRU,
            f"{rru:g} RRU per conversation (strongly consistent reads)",
        ),
        CostLine(
            "EventBridge custom events",
            n * events * EVENTBRIDGE_EVENT,
            f"{events:g} events per conversation",
        ),
        CostLine("SSM parameters (standard)", 0.0, "GetParameter of a standard parameter: free"),
        CostLine(
            "CloudWatch Logs ingestion",
            n * log_bytes / GB * LOGS_INGEST_GB,
            f"{log_bytes:.0f} B per conversation: the functions' JSON logs and EMF metrics as "
            f"measured + {PLATFORM_LOG_BYTES} B of platform lines per invocation "
            f"+ {LOG_EVENT_OVERHEAD} B per event",
        ),
    ]
    listed = sum(line.usd for line in lines)
    active = n * invocations * XRAY_TRACE
    traced = inputs.tracing == "Active"
    xray = CostLine(
        f"X-Ray traces (Tracing: {inputs.tracing}, the template's default)",
        active if traced else 0.0,
        "Active: $5.00 per million traces after 100,000 free a month; Lambda samples 1 "
        "request a second + 5%, so at low traffic every invocation is traced"
        if traced
        else "none: the HTTP API, the schedule and SQS start no trace; "
        f"Tracing=Active would add ${active:.5f} (every invocation traced at low traffic, "
        "$5.00 per million after 100,000 free a month)",
    )
    lines.append(xray)
    cold = 0.0
    if inputs.cold_start_s:
        cold = sum(
            n
            * p.times
            * math.ceil(inputs.cold_start_s.get(p.function, 0.0) * 1000)
            / 1000
            * inputs.memory_mb.get(p.function, 256)
            / 1024
            * LAMBDA_ARM_GB_S
            for p in ps
        )
    fixed = _fixed(inputs, traced)
    return Costs(lines, listed + xray.usd, cold, fixed, inputs.tracing, 0.0 if traced else active)


def _fixed(inputs: CostInputs, traced: bool) -> list[CostLine]:
    month_minutes = 30 * 24 * 60
    out: list[CostLine] = []
    poller = inputs.poller
    runs = month_minutes / 5  # rate(5 minutes)
    if poller is not None and poller.samples:
        memory = inputs.memory_mb.get("StatusPollerFunction", 256)
        ms = math.ceil(poller.median_seconds * 1000)
        usd = runs * (
            LAMBDA_REQUEST
            + ms / 1000 * memory / 1024 * LAMBDA_ARM_GB_S
            + poller.rru * DDB_RRU
            + poller.wru * DDB_WRU
            + (XRAY_TRACE if traced else 0.0)
        )
        out.append(
            CostLine(
                "StatusPoller on its schedule",
                usd,
                f"{runs:.0f} runs a month, each {poller.calls:g} calls ({poller.ops}), "
                f"{ms} ms, {poller.rru:g} RRU",
            )
        )
    pollers = 5
    receives = pollers * 3 * month_minutes  # 20 s long polls while the queue is empty
    out.append(
        CostLine(
            "SQS: Lambda's pollers on an empty queue",
            receives * SQS_FIFO_REQUEST,
            f"~{receives:,.0f} empty ReceiveMessage a month ({pollers} pollers, 20 s long polls)",
        )
    )
    if inputs.metric_names:
        out.append(
            CostLine(
                "CloudWatch custom metrics (EMF)",
                inputs.metric_names * CW_METRIC_MONTH,
                f"{inputs.metric_names} metric names seen in this run x $0.30 (the code "
                "defines more; each one emitted in a month is billed)",
            )
        )
    out.append(CostLine("CloudWatch alarm (DLQ)", CW_ALARM_MONTH, "one standard alarm"))
    if inputs.table_bytes_per_conversation:
        gb = CONVERSATIONS * inputs.table_bytes_per_conversation / GB
        out.append(
            CostLine(
                "DynamoDB storage + PITR, per 1,000 conversations kept",
                gb * (DDB_STORAGE_GB_MONTH + DDB_PITR_GB_MONTH),
                f"{inputs.table_bytes_per_conversation:.0f} B per conversation "
                "(items + 100 B each), a month",
            )
        )
    return out


def cost_rows(costs: Costs) -> list[Row]:
    per = f"per {CONVERSATIONS:,} conversations"
    rows = [
        Row(
            section="5 cost",
            measure=f"TOTAL {per} (1MSG fees aside)",
            bundle=f"${costs.total:.4f}",
            floor=f"${TARGET_USD:.2f} budget",
            ratio=costs.total / TARGET_USD,
            target=f"< ${TARGET_USD:.2f}",
            ok=costs.total < TARGET_USD,
            notes=f"warm invocations, Tracing={costs.tracing} (the template's default); "
            "the lines below add up to it",
        )
    ]
    if costs.xray_active:
        active = costs.total + costs.xray_active
        rows.append(
            Row(
                section="5 cost",
                measure=f"TOTAL {per} with Tracing=Active (X-Ray on every function)",
                bundle=f"${active:.4f}",
                floor=f"${TARGET_USD:.2f} budget",
                ratio=active / TARGET_USD,
                notes=f"+${costs.xray_active:.4f} of X-Ray traces: what turning traces on for "
                "an investigation costs while it is on",
            )
        )
    if costs.cold_upper:
        worst = costs.total + costs.cold_upper
        rows.append(
            Row(
                section="5 cost",
                measure=f"TOTAL {per} if every invocation were a cold start",
                bundle=f"${worst:.4f}",
                floor=f"${TARGET_USD:.2f} budget",
                ratio=worst / TARGET_USD,
                notes=f"+${costs.cold_upper:.4f} of billed INIT (the cold starts of section 1); "
                "a quiet channel is close to this",
            )
        )
    for line in costs.lines:
        share = line.usd / costs.total if costs.total else 0.0
        rows.append(
            Row(
                section="5 cost",
                measure=line.name,
                bundle=f"${line.usd:.5f}",
                floor=f"{share:.0%} of the total",
                ratio=line.usd / TARGET_USD if line.usd > 0 else None,
                notes=line.basis,
            )
        )
    for line in costs.fixed:
        rows.append(
            Row(
                section="5 cost",
                measure=f"fixed a month: {line.name}",
                bundle=f"${line.usd:.4f}/month",
                notes=line.basis,
            )
        )
    return rows + model_cost_rows()  # what SubjectExtractor=bedrock would add


def readme_table(costs: Costs) -> str:
    """The cost table as README.md shows it."""
    lines = [
        f"| Item | per {CONVERSATIONS:,} conversations | Basis |",
        "|---|---:|---|",
    ]
    for line in costs.lines:
        lines.append(f"| {line.name} | ${line.usd:.5f} | {line.basis} |")
    lines.append(
        f"| **Total** | **${costs.total:.4f}** | target < ${TARGET_USD:.2f}; "
        f"Tracing={costs.tracing} |"
    )
    if costs.xray_active:
        lines.append(
            f"| Total with Tracing=Active | ${costs.total + costs.xray_active:.4f} "
            f"| + ${costs.xray_active:.5f} of X-Ray traces while tracing is on |"
        )
    if costs.cold_upper:
        worst = costs.total + costs.cold_upper
        lines.append(
            f"| Total if every invocation were a cold start | ${worst:.4f} "
            "| INIT is billed; a quiet channel is close to this |"
        )
    lines.append("")
    lines.append("| Fixed, whatever the traffic | per month | Basis |")
    lines.append("|---|---:|---|")
    for line in costs.fixed:
        lines.append(f"| {line.name} | ${line.usd:.4f} | {line.basis} |")
    return "\n".join(lines)
