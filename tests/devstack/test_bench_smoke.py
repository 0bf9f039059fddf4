"""`make bench`'s code, run small: every section produces well-formed rows.

Benchmarks print figures; this never asserts a time. It checks that the cheap sections run
against the real handlers and produce rows a reader can trust the shape of (a measure, a
figure, a positive ratio, a verdict exactly where there is a target), that the call counter
sees the product's calls, and that the cost adds up. The burst itself (the full local stack,
tens of seconds) runs only in `make bench`; its planning and its rows are checked here. The
local stack's moto patch has its own tests (`test_moto_dynamodb.py`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from bench.awscalls import CallCounter, TableShape, gsi_write_units, item_size
from bench.burst import BurstResult, BurstRun, burst_rows, plan
from bench.coldstart import cold_start_rows, measure_cold_start
from bench.cost import CostInputs, cost_rows, estimate, readme_table
from bench.extractor import extractor_rows, measure_extractor
from bench.harness import Harness
from bench.latency import latency_rows, measure_latency
from bench.preload import conversation_template, copies
from bench.run import README_HEADING, readme_section, write_readme
from bench.table import Row, render, well_formed
from bench.units import ACK, ECHO, FIRST, FOLLOW_UP, SEND
from bench.work import (
    WorkResult,
    measure_poller,
    measure_work,
    single_write_rows,
    table_bytes,
    work_rows,
)


@pytest.fixture(scope="module")
def harness(project_root: Path) -> Iterator[Harness]:
    # No burst wait: the sender answers on its first run, so the smoke test stays quick.
    with Harness(project_root, env={"BURST_SECONDS": "0"}) as running:
        yield running


@pytest.fixture(scope="module")
def work(harness: Harness) -> WorkResult:
    return measure_work(harness, conversations=1)


def assert_rows(rows: list[Row]) -> None:
    assert rows
    bad = [row for row in rows if not well_formed(row)]
    assert not bad, bad
    table = render(rows).splitlines()
    assert table[0].startswith("| ratio ")  # ratio first
    assert len(table) == len(rows) + 2


def test_the_counter_sees_every_unit_of_a_conversation(work: WorkResult) -> None:
    for unit in (FIRST, FOLLOW_UP, SEND, ECHO, ACK):
        stats = work.units[unit]
        assert stats.samples and all(stats.samples), unit  # at least one AWS call each
        assert stats.ops
        assert stats.seconds and stats.log_bytes
    operations = Counter(c.operation for s in work.units[FIRST].samples for c in s)
    assert operations["TransactWriteItems"] >= 1  # the webhook's own write, counted
    assert work.units[FIRST].wru > 0 and work.units[ACK].rru > 0
    assert work.onemsg_calls_per_send >= 1
    assert_rows(work_rows(work))


def test_single_write_option_counts_half_the_units_of_a_one_item_transaction(
    harness: Harness,
) -> None:
    (row,) = single_write_rows(harness)
    assert row.bundle == "1 WRU now, 2 before" and row.ratio == pytest.approx(0.5)
    assert_rows([row])


def test_latency_rows_compare_the_handler_with_its_own_calls(harness: Harness) -> None:
    result = measure_latency(harness, samples=3)
    assert len(result.inbound.bundle) == len(result.inbound.floor) == 3
    assert len(result.ack.bundle) == len(result.ack.floor) >= 3
    assert min(result.inbound.calls) >= 1
    assert_rows(latency_rows(result))


def test_cost_rows_add_up(harness: Harness, work: WorkResult) -> None:
    stored, items = table_bytes(harness)
    assert stored > items > 0
    costs = estimate(
        CostInputs(
            work=work,
            memory_mb=harness.memory_mb,
            cold_start_s={"WebhookFunction": 0.5, "SenderFunction": 0.5},
            poller=measure_poller(harness, runs=1),
            table_bytes_per_conversation=stored / 3,
            metric_names=len(work.metric_names),
        )
    )
    assert costs.total == pytest.approx(sum(line.usd for line in costs.lines))
    assert costs.total > 0 and costs.cold_upper > 0 and costs.fixed
    assert_rows(cost_rows(costs))
    assert "| **Total** |" in readme_table(costs)
    traced = estimate(CostInputs(work=work, memory_mb=harness.memory_mb, tracing="Active"))
    untraced = estimate(CostInputs(work=work, memory_mb=harness.memory_mb))
    assert untraced.xray_active > 0 and traced.xray_active == 0
    assert traced.total == pytest.approx(untraced.total + untraced.xray_active)
    assert any("Tracing=Active" in row.measure for row in cost_rows(untraced))


def test_cold_start_rows_for_two_functions(project_root: Path) -> None:
    functions = ["WebhookFunction", "SenderFunction"]
    result = measure_cold_start(runs=1, root=project_root, functions=functions)
    target = result.functions["WebhookFunction"]["full"]
    assert target.samples and result.baseline.samples
    assert "import app" in target.step_ms() and "client" in result.baseline.step_ms()
    for modes in result.functions.values():
        assert not [t.failures for t in modes.values() if t.failures]
    rows = cold_start_rows(result)
    assert_rows(rows)
    # the sender's other first requests, and what the extractor adds to its cold start:
    # nothing, its rules and model are loaded after the first batch
    extractor = next(r for r in rows if "what the extractor adds" in r.measure)
    assert (extractor.target, extractor.ok, extractor.bundle) == ("<= 30 ms", True, "0.0 ms")
    assert "fasttext" not in result.functions["SenderFunction"]["full"].loaded
    assert "fasttext" in result.functions["SenderFunction"]["extractor-in-init"].loaded
    assert any("first send with no burst wait" in r.measure for r in rows)


def test_extractor_rows_time_every_labelled_request() -> None:
    result = measure_extractor(rounds=1)
    assert result.requests >= 400 and len(result.samples_ms) == result.requests
    assert result.entries > 0
    rows = extractor_rows(result)
    assert_rows(rows)
    assert [r.target for r in rows] == ["<= 5 ms", ""]


def test_burst_plan_and_rows() -> None:
    bodies = plan(40)
    ids = [b["messages"][0]["id"] for b in bodies]
    chats = {b["messages"][0]["chatId"] for b in bodies}
    assert len(bodies) == 40 and len(chats) == 10
    assert len(ids) - len(set(ids)) == 4  # a tenth re-posted
    run = BurstRun(messages=40, chats=10, duplicates=4, threads=4, latency=0.15, burst_seconds=3)
    run.reply_seconds, run.ingest_seconds = 5.0, 2.0
    run.latencies = [3.5, 4.0]
    run.answered = Counter({c: 1 for c in chats})
    run.functions = {"WebhookFunction": {"max_rss_kb": 80_000, "environments": 1}}
    run.memory_mb = {"WebhookFunction": 256}
    assert run.exactly_once
    assert_rows(burst_rows(BurstResult([run], [(2000, "projected over the budget")])))
    full = BurstRun(messages=40, chats=10, duplicates=4, threads=4, latency=0.15, burst_seconds=3)
    full.reply_seconds, full.latencies, full.answered = 6.0, [3.6], Counter(run.answered)
    full.preloaded_chats, full.preload_items = 5000, 70_000
    full.rss_start_kb, full.rss_peak_kb = run.rss_start_kb, run.rss_peak_kb = 300_000, 320_000
    rows = burst_rows(BurstResult([run, full], []))
    assert_rows(rows)
    compared = next(r for r in rows if "already holding 5000 chats" in r.measure)
    assert compared.ratio == pytest.approx(6.0 / 5.0) and compared.ok is True
    assert sum("peak memory" in r.measure and "main process" in r.measure for r in rows) == 2


def test_preload_copies_a_conversation_with_fresh_chats_and_ids() -> None:
    chat, reply = "77010090000", "wamid.reply1"
    items = [
        {"PK": {"S": f"LEAD#{chat}@c.us"}, "SK": {"S": "LEAD"}, "phone": {"S": chat}},
        {
            "PK": {"S": f"LEAD#{chat}@c.us"},
            "SK": {"S": "OUT#auto:wamid.in1"},
            "provider_id": {"S": reply},
            "awaiting_pk": {"S": "AWAIT"},
            "awaiting_since": {"N": "1"},
        },
        {"PK": {"S": "PMID#wamid.in1"}, "SK": {"S": "PMID"}, "pk": {"S": f"LEAD#{chat}@c.us"}},
        {"PK": {"S": f"PMID#{reply}"}, "SK": {"S": "STATUS#read"}},
        {"PK": {"S": "MANAGERS"}, "SK": {"S": "MANAGER#anna"}},
    ]
    template, chats, ids = conversation_template(items)
    assert chats == [chat] and ids == ["wamid.in1", reply]
    first, second = copies(template, chats, ids, 0), copies(template, chats, ids, 1)
    keys = {(i["PK"]["S"], i["SK"]["S"]) for i in first + second}
    assert len(keys) == 8  # 4 items a copy (the roster is not copied), none shared
    assert not any(chat in json.dumps(i) or "awaiting_pk" in i for i in first + second)
    lead = first[0]
    assert lead["PK"]["S"] == f"LEAD#{lead['phone']['S']}@c.us" and lead["phone"]["S"].isdigit()
    assert first[2]["pk"]["S"] == lead["PK"]["S"]  # the pointer follows its chat
    assert first[3]["PK"]["S"] == f"PMID#{first[1]['provider_id']['S']}"


def test_readme_section_is_written_once_at_the_end(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# project\n\n## Development\n\ntext\n", encoding="utf-8")
    rows = [Row("5 cost", "TOTAL", "$0.01", ratio=0.2, target="< $0.05", ok=True)]
    for _ in range(2):
        write_readme(readme, readme_section("| a | b |", rows, 1.0))
    text = readme.read_text(encoding="utf-8")
    assert text.count(README_HEADING) == 1
    assert text.startswith("# project\n\n## Development\n\ntext\n\n" + README_HEADING)
    # a section someone adds after it later survives the next run
    readme.write_text(text + "\n## Later\n\nkept\n", encoding="utf-8")
    write_readme(readme, readme_section("| c | d |", rows, 2.0))
    text = readme.read_text(encoding="utf-8")
    assert text.count(README_HEADING) == 1 and "| c | d |" in text and "| a | b |" not in text
    assert text.endswith("## Later\n\nkept\n")


def test_capacity_rules() -> None:
    assert item_size({"PK": {"S": "ab"}, "n": {"N": "123"}}) == 2 + 2 + 1 + 3
    shape = TableShape(("PK", "SK"), {"I": (("g",), ("x",))})
    base = {"PK": {"S": "a"}, "SK": {"S": "b"}}
    assert gsi_write_units(shape, base, {**base, "g": {"S": "1"}}) == 1  # enters the index
    assert gsi_write_units(shape, {**base, "g": {"S": "1"}}, base) == 1  # leaves it
    assert gsi_write_units(shape, base, {**base, "y": {"S": "1"}}) == 0  # not in it


def test_counter_records_calls_only_while_active(harness: Harness) -> None:
    counter = CallCounter()
    client = boto3.client("sqs")
    with counter.active():
        client.get_queue_url(QueueName=harness.queue_url.rsplit("/", 1)[-1])
    client.get_queue_url(QueueName=harness.queue_url.rsplit("/", 1)[-1])
    assert [c.operation for c in counter.take()] == ["GetQueueUrl"]
