"""A local stack that already holds thousands of chats, and the main process's memory.

`preload` fills the state table with `chats` settled conversations: the conversations the
burst's warm-up made (lead, session, messages, our reply and its ledger, pointers, statuses),
read back and copied with fresh chat and message ids, written with BatchWriteItem as any
client would. The copies carry no `awaiting_*` attributes: old chats are settled (delivered,
read, answered), so the poller finds nothing of theirs to ask about, as in a real table.

`RssSampler` reads the bench process's resident memory while a burst runs: moto's server, the
gateway and the pump live in this process (the functions in their own workers), so it is the
"stack's main process" of `make run`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

PRELOAD_CHATS = 5000
_SKIP_PK = ("MANAGERS", "HOOK#")
_AWAITING = ("awaiting_pk", "awaiting_since")
_BATCH = 25
_WRITERS = 4


def _scan(ddb: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": table}
    while True:
        page = ddb.scan(**request)
        items += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def conversation_template(items: list[dict[str, Any]]) -> tuple[str, list[str], list[str]]:
    """(the items as JSON, the chats' digits, the provider ids) to copy from."""
    kept = []
    for item in items:
        pk = item["PK"]["S"]
        if pk.startswith(_SKIP_PK):
            continue
        kept.append({k: v for k, v in item.items() if k not in _AWAITING})
    chats = sorted(
        {m.group(1) for i in kept if (m := re.match(r"LEAD#(\d+)@c\.us$", i["PK"]["S"]))}
    )
    ids = sorted({i["PK"]["S"][5:] for i in kept if i["PK"]["S"].startswith("PMID#")})
    return json.dumps(kept), chats, ids


def copies(template: str, chats: list[str], ids: list[str], copy: int) -> list[dict[str, Any]]:
    """One copy of the template: every chat number and provider id made unique."""
    if not chats:
        return []
    tokens = sorted(chats + ids, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(t) for t in tokens))

    def fresh(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in chats:  # digits only, as a phone must be: a new number per copy
            return f"{6 + copy // 100_000}{copy % 100_000:05d}{chats.index(token):02d}{token[-4:]}"
        return f"{token}.p{copy}"

    loaded: list[dict[str, Any]] = json.loads(pattern.sub(fresh, template))
    return loaded


def preload(stack: Any, chats: int = PRELOAD_CHATS) -> int:
    """Fill the stack's state table to about `chats` chats; returns the items written."""
    ddb = stack.client("dynamodb")
    table = stack.ctx.physical_name("StateTable")
    template, template_chats, ids = conversation_template(_scan(ddb, table))
    if not template_chats:
        return 0
    rounds = max(1, round(chats / len(template_chats)))

    def batches() -> Iterator[list[dict[str, Any]]]:
        batch: list[dict[str, Any]] = []
        for copy in range(rounds):
            for item in copies(template, template_chats, ids, copy):
                batch.append({"PutRequest": {"Item": item}})
                if len(batch) == _BATCH:
                    yield batch
                    batch = []
        if batch:
            yield batch

    # A few writers at once, as a loader would: the requests' HTTP and JSON overlap, moto's
    # writes themselves still go one at a time.
    with ThreadPoolExecutor(_WRITERS, thread_name_prefix="bench-preload") as pool:
        return sum(pool.map(lambda batch: _write(ddb, table, batch), batches()))


def _write(ddb: Any, table: str, batch: list[dict[str, Any]]) -> int:
    request = {table: batch}
    while request:
        unprocessed = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
        request = unprocessed
    return len(batch)


def rss_kb() -> int:
    """This process's resident memory now (Linux); 0 where /proc is not there."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class RssSampler(threading.Thread):
    """The peak of `rss_kb()` while it runs (sampled every `interval` seconds)."""

    def __init__(self, interval: float = 0.25) -> None:
        super().__init__(name="bench-rss", daemon=True)
        self.interval = interval
        self.peak_kb = rss_kb()
        self.start_kb = self.peak_kb
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.peak_kb = max(self.peak_kb, rss_kb())

    def stop(self) -> int:
        self._stop_event.set()
        self.join(timeout=5)
        self.peak_kb = max(self.peak_kb, rss_kb())
        return self.peak_kb
