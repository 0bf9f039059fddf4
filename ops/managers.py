"""The manager roster in the state table: who reviews which requests, without a redeploy.

    python -m ops.managers [--env dev] list
    python -m ops.managers add "Anna Petrova" --topics delivery,prices --capacity 5
    python -m ops.managers set anna-petrova --capacity 8
    python -m ops.managers disable anna-petrova
    python -m ops.managers enable anna-petrova
    python -m ops.managers --endpoint-url http://127.0.0.1:PORT list    # the local stack

A manager has an id, a name (the reply's {{3}}), topics (the request topics they take; none =
any), active, and a capacity (leads waiting for their first answer; 0 = no limit). ``load`` is
the app's own count and is never written here. The functions read the roster within 30 s
(their cache); while the table has no manager they use the ``Managers`` template parameter.

The table is the stack's ``StateTableName`` output, ``--table``, or with ``--endpoint-url``
(the local stack's moto) the local stack's table.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from session_reply.domain.assignment import manager_id
from session_reply.store import Item

from ops.outputs import (
    ROOT,
    OpsError,
    TableCommands,
    add_stack_arguments,
    run,
    state_store,
)

TOPICS_FILE = ROOT / "layers" / "common" / "session_reply" / "domain" / "topics.json"
ANY_TOPIC = "any"


def known_topics(path: Path = TOPICS_FILE) -> set[str]:
    """The topic labels the deployed rules can give a request (empty when unknown)."""
    labels: set[str] = set()
    try:
        from session_reply.domain import topic

        labels.update(str(getattr(rule, "topic", "")) for rule in getattr(topic, "RULES", ()))
    except ImportError:  # pragma: no cover - the package is always importable here
        pass
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        labels.update(str(t.get("topic", "")) for t in data.get("topics", []))
    except (OSError, ValueError, AttributeError):
        pass
    return {label for label in labels if label}


def parse_topics(value: str, *, allow_unknown: bool, known: set[str] | None = None) -> list[str]:
    """``"delivery, Prices"`` -> ``["delivery", "prices"]``; ``any`` or empty -> ``[]``."""
    topics: list[str] = []
    for raw in value.split(","):
        label = re.sub(r"\s+", " ", raw).strip().lower()
        if label and label != ANY_TOPIC and label not in topics:
            topics.append(label)
    known = known_topics() if known is None else known
    unknown = [t for t in topics if known and t not in known]
    if unknown and not allow_unknown:
        raise OpsError(
            f"unknown topic(s) {', '.join(unknown)}; known: {', '.join(sorted(known))} "
            "(--allow-unknown-topics to use a topic your deployed rules have but this "
            "checkout does not)"
        )
    return topics


def parse_languages(value: str) -> list[str]:
    """``"en, RU"`` -> ``["en", "ru"]``; ``any`` or empty -> ``[]`` (not said)."""
    codes: list[str] = []
    for raw in value.split(","):
        code = raw.strip().lower()
        if not code or code == ANY_TOPIC:
            continue
        if not re.fullmatch(r"[a-z]{2}", code):
            raise OpsError(f"language {raw.strip()!r}: an ISO 639-1 code such as en, ru, es")
        if code not in codes:
            codes.append(code)
    return codes


def capacity(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("capacity must be a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError("capacity must be 0 (no limit) or more")
    return number


class Roster(TableCommands):
    """The CLI's operations over Store.list_managers / Store.put_manager."""

    def all(self) -> list[Item]:
        items: list[Item] = self._call("listing managers", self.store.list_managers)
        return sorted(items, key=lambda m: str(m.get("id")))

    def get(self, manager: str) -> Item:
        for item in self.all():
            if item.get("id") == manager:
                return item
        raise OpsError(f"no manager {manager!r} (see: list)")

    def put(self, fields: Item) -> Item:
        self._call("saving a manager", lambda: self.store.put_manager(fields))
        return self.get(str(fields["id"]))

    def add(
        self, name: str, *, ident: str | None, topics: list[str], cap: int, active: bool
    ) -> Item:
        name = name.strip()
        if not name:
            raise OpsError("a manager needs a name")
        ident = ident or manager_id(name)
        if any(m.get("id") == ident for m in self.all()):
            raise OpsError(f"manager {ident!r} exists; change it with: set {ident} ...")
        return self.put(
            {"id": ident, "name": name, "topics": topics, "capacity": cap, "active": active}
        )

    def update(self, ident: str, changes: Item) -> Item:
        self.get(ident)  # never create a half manager by a typo in the id
        return self.put({"id": ident, **changes})


def describe(item: Item) -> str:
    topics = ", ".join(item.get("topics") or []) or ANY_TOPIC
    cap = int(item.get("capacity") or 0)
    limit = f"capacity {cap}" if cap else "no capacity limit"
    state = "active" if item.get("active", True) else "disabled"
    languages = ", ".join(item.get("languages") or []) or "any language"
    return (
        f"{item.get('id')} ({item.get('name')}): {state}, topics {topics}, {languages}, "
        f"{limit}, load {int(item.get('load') or 0)}"
    )


def table_lines(items: list[Item]) -> list[str]:
    header = ("ID", "NAME", "ACTIVE", "CAPACITY", "LOAD", "LANGUAGES", "TOPICS")
    rows = [
        (
            str(m.get("id")),
            str(m.get("name")),
            "yes" if m.get("active", True) else "no",
            str(int(m.get("capacity") or 0) or "-"),
            str(int(m.get("load") or 0)),
            ",".join(m.get("languages") or []) or "-",
            ", ".join(m.get("topics") or []) or ANY_TOPIC,
        )
        for m in items
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ops.managers",
        description="List and change the managers in the deployed (or local) state table.",
    )
    add_stack_arguments(parser)
    parser.add_argument("--table", help="the state table (default: the stack's StateTableName)")
    parser.add_argument("--endpoint-url", help="DynamoDB endpoint, e.g. the local stack's moto")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("list", help="the roster with topics, capacity and current load")

    add = commands.add_parser("add", help="add a manager")
    add.add_argument("name", help='the name the reply shows, e.g. "Anna Petrova"')
    add.add_argument("--id", help="a stable id (default: from the name, e.g. anna-petrova)")
    add.add_argument("--topics", default="", help="comma-separated topics; none/any = any topic")
    add.add_argument("--capacity", type=capacity, default=0, help="0 = no limit (default)")
    add.add_argument("--languages", default="", help="comma-separated ISO 639-1 codes, e.g. en,ru")
    add.add_argument("--inactive", action="store_true", help="add it disabled")
    add.add_argument("--allow-unknown-topics", action="store_true")

    change = commands.add_parser("set", help="change a manager's name, topics or capacity")
    change.add_argument("id")
    change.add_argument("--name")
    change.add_argument("--topics", help="comma-separated topics; 'any' = any topic")
    change.add_argument("--capacity", type=capacity)
    change.add_argument("--languages", help="comma-separated ISO 639-1 codes; 'any' = not said")
    change.add_argument("--allow-unknown-topics", action="store_true")

    for verb, text in (("disable", "no new leads"), ("enable", "takes new leads again")):
        sub = commands.add_parser(verb, help=f"{text} (assigned leads stay)")
        sub.add_argument("id")
    return parser


def execute(args: argparse.Namespace, roster: Roster, out: Callable[[str], None] = print) -> int:
    def show(item: Item, verb: str) -> None:
        out(json.dumps(item, default=str) if args.json else f"{verb}: {describe(item)}")

    if args.command == "list":
        items = roster.all()
        if args.json:
            out(json.dumps(items, default=str, indent=2))
        elif not items:
            out("No managers in the table: replies name the Managers template parameter.")
        else:
            for line in table_lines(items):
                out(line)
        return 0
    if args.command == "add":
        first = not roster.all()
        topics = parse_topics(args.topics, allow_unknown=args.allow_unknown_topics)
        item = roster.add(
            args.name, ident=args.id, topics=topics, cap=args.capacity, active=not args.inactive
        )
        if args.languages:
            item = roster.update(str(item["id"]), {"languages": parse_languages(args.languages)})
        show(item, "added")
        if first and not args.json:
            out(
                "This is the first manager in the table: from now on only the table's managers "
                "are assigned (the Managers template parameter is no longer used)."
            )
        return 0
    if args.command == "set":
        changes: Item = {}
        if args.name is not None:
            if not args.name.strip():
                raise OpsError("the name must not be empty")
            changes["name"] = args.name.strip()
        if args.topics is not None:
            changes["topics"] = parse_topics(args.topics, allow_unknown=args.allow_unknown_topics)
        if args.capacity is not None:
            changes["capacity"] = args.capacity
        if args.languages is not None:
            changes["languages"] = parse_languages(args.languages)
        if not changes:
            raise OpsError("nothing to set: give --name, --topics, --capacity or --languages")
        show(roster.update(args.id, changes), "updated")
        return 0
    active = args.command == "enable"
    item = roster.update(args.id, {"active": active})
    show(item, "enabled" if active else "disabled")
    if not active and not args.json and int(item.get("load") or 0):
        out(f"{item['load']} lead(s) already assigned stay with them until answered.")
    return 0


def main(argv: Sequence[str] | None = None, *, client: Any = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        return execute(args, Roster(state_store(args, client)))

    return run(body)


if __name__ == "__main__":
    raise SystemExit(main())
