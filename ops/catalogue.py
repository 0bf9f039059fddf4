"""The business's catalogue and hours in the state table, changed without a redeploy.

    python -m ops.catalogue [--env dev] list
    python -m ops.catalogue add corner-sofas --name en="Corner sofas" --name ru="Угловые диваны" \\
        --match "corner sofa,угловой диван" --team anna-petrova
    python -m ops.catalogue set corner-sofas --match "corner sofa,l-shaped sofa"
    python -m ops.catalogue remove corner-sofas
    python -m ops.catalogue import ops/catalogue.example.json      # adds or replaces entries
    python -m ops.catalogue hours                                  # the schedule, or none
    python -m ops.catalogue hours --set ops/hours.example.json     # or --clear (always open)
    python -m ops.catalogue replies                                # show the changes, if any
    python -m ops.catalogue replies --set my-replies.json          # or --clear (shipped texts)
    python -m ops.catalogue --endpoint-url http://127.0.0.1:PORT list   # the local stack

An entry has an id, names per language (the reply's {{2}} when a request matches it), the
words that match it, and optionally the team (manager ids) that handles it. Every entry and
schedule is validated before anything is written. The functions read both within 30 s.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from session_reply.domain.catalogue import CatalogueError, parse_entry
from session_reply.domain.hours import ScheduleError, parse_schedule
from session_reply.domain.replies import with_overrides
from session_reply.flows.business import (
    CATALOGUE_PK,
    HOURS_KEY,
    REPLIES_KEY,
    entry_key,
    entry_record,
)
from session_reply.store import Item, Update, now

from ops.outputs import OpsError, TableCommands, add_stack_arguments, run, state_store


class Business(TableCommands):
    """The CLI's operations over the table's catalogue entries and hours item."""

    def entries(self) -> list[Item]:
        items = self._call(
            "listing the catalogue", lambda: self.store.query_partition(CATALOGUE_PK, "ENTRY#")
        )
        return sorted((i for i in items if not i.get("removed")), key=lambda i: str(i["id"]))

    def get(self, ident: str) -> Item:
        for item in self.entries():
            if item.get("id") == ident:
                return item
        raise OpsError(f"no catalogue entry {ident!r} (see: list)")

    def put(self, raw: Item) -> Item:
        try:
            parse_entry(raw)
        except CatalogueError as exc:
            raise OpsError(str(exc)) from None
        record = entry_record(raw)
        self._call(
            "saving a catalogue entry",
            lambda: self.store.update(
                Update(
                    key=entry_key(str(raw["id"])),
                    sets={**record, "removed": False, "updated_at": now()},
                )
            ),
        )
        return self.get(str(raw["id"]))

    def remove(self, ident: str) -> None:
        self.get(ident)
        self._call(
            "removing a catalogue entry",
            lambda: self.store.update(
                Update(key=entry_key(ident), sets={"removed": True, "updated_at": now()})
            ),
        )

    def hours(self) -> Item | None:
        item = self._call("reading the hours", lambda: self.store.get(HOURS_KEY))
        return item if item and item.get("schedule") else None

    def replies(self) -> Item | None:
        item = self._call("reading the reply texts", lambda: self.store.get(REPLIES_KEY))
        return item if item and item.get("texts") else None

    def set_replies(self, texts: Item | None) -> None:
        text = json.dumps(texts, ensure_ascii=False) if texts else ""
        self._call(
            "saving the reply texts",
            lambda: self.store.update(
                Update(key=REPLIES_KEY, sets={"texts": text, "updated_at": now()})
            ),
        )

    def set_hours(self, schedule: Item | None) -> None:
        text = json.dumps(schedule, ensure_ascii=False) if schedule else ""
        self._call(
            "saving the hours",
            lambda: self.store.update(
                Update(key=HOURS_KEY, sets={"schedule": text, "updated_at": now()})
            ),
        )


def _names(values: list[str] | None) -> dict[str, str]:
    names: dict[str, str] = {}
    for value in values or []:
        language, sep, name = value.partition("=")
        if not sep:
            raise OpsError(f'--name {value!r}: give LANG=NAME, e.g. en="Corner sofas"')
        names[language.strip().lower()] = name.strip()
    return names


def _list(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _read_json(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise OpsError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise OpsError(f"{path} is not JSON: {exc}") from None


def describe(item: Item) -> str:
    names = ", ".join(f"{k}: {v}" for k, v in sorted((item.get("names") or {}).items()))
    team = ", ".join(item.get("team") or []) or "any manager"
    return f"{item.get('id')}: {names}; matches {', '.join(item.get('match') or [])}; {team}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ops.catalogue",
        description="List and change the catalogue and the business hours in the state table.",
    )
    add_stack_arguments(parser)
    parser.add_argument("--table", help="the state table (default: the stack's StateTableName)")
    parser.add_argument("--endpoint-url", help="DynamoDB endpoint, e.g. the local stack's moto")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("list", help="the catalogue's entries")
    for verb in ("add", "set"):
        sub = commands.add_parser(verb, help=f"{verb} an entry")
        sub.add_argument("id", help="a stable id, e.g. corner-sofas")
        sub.add_argument("--name", action="append", help='LANG=NAME, e.g. en="Corner sofas"')
        sub.add_argument("--match", help="comma-separated words or phrases that name it")
        sub.add_argument("--team", help="comma-separated manager ids; 'any' = any manager")
    remove = commands.add_parser("remove", help="remove an entry")
    remove.add_argument("id")
    imported = commands.add_parser("import", help="add or replace the entries of a JSON file")
    imported.add_argument("file")
    hours = commands.add_parser("hours", help="show, set or clear the business hours")
    group = hours.add_mutually_exclusive_group()
    group.add_argument("--set", metavar="FILE", help="a schedule JSON file")
    group.add_argument("--clear", action="store_true", help="always open")
    replies = commands.add_parser("replies", help="show, set or clear the reply texts' changes")
    group = replies.add_mutually_exclusive_group()
    group.add_argument("--set", metavar="FILE", help='{"ru": {"reply": "…«{{2}}»…"}, …}')
    group.add_argument("--clear", action="store_true", help="back to the shipped texts")
    return parser


def execute(
    args: argparse.Namespace, business: Business, out: Callable[[str], None] = print
) -> int:
    def show(item: Item, verb: str) -> None:
        out(
            json.dumps(item, default=str, ensure_ascii=False)
            if args.json
            else f"{verb}: {describe(item)}"
        )

    if args.command == "list":
        items = business.entries()
        if args.json:
            out(json.dumps(items, default=str, indent=2, ensure_ascii=False))
        elif not items:
            out("The catalogue is empty: replies name the request in the client's words.")
        for item in [] if args.json else items:
            out(describe(item))
        return 0
    if args.command in ("add", "set"):
        exists = any(i.get("id") == args.id for i in business.entries())
        if args.command == "add" and exists:
            raise OpsError(f"entry {args.id!r} exists; change it with: set {args.id} ...")
        base: Item = business.get(args.id) if args.command == "set" else {"id": args.id}
        if args.name:
            base["names"] = {**(base.get("names") or {}), **_names(args.name)}
        if args.match is not None:
            base["match"] = _list(args.match)
        if args.team is not None:
            base["team"] = [] if args.team.strip().lower() == "any" else _list(args.team)
        show(business.put(base), "added" if args.command == "add" else "updated")
        return 0
    if args.command == "remove":
        business.remove(args.id)
        out(f"removed: {args.id}")
        return 0
    if args.command == "import":
        data = _read_json(args.file)
        entries = data.get("entries") if isinstance(data, dict) else data
        if not isinstance(entries, list):
            raise OpsError(f'{args.file}: a list of entries, or {{"entries": [...]}}')
        for raw in entries:  # all valid, or nothing written
            try:
                parse_entry(raw)
            except CatalogueError as exc:
                raise OpsError(f"{args.file}: {exc}") from None
        for raw in entries:
            show(business.put(dict(raw)), "imported")
        return 0
    if args.command == "replies":
        return _replies(args, business, out)
    if args.set:
        schedule = _read_json(args.set)
        try:
            parse_schedule(schedule)
        except ScheduleError as exc:
            raise OpsError(f"{args.set}: {exc}") from None
        business.set_hours(schedule)
    elif args.clear:
        business.set_hours(None)
    stored = business.hours()
    out(stored["schedule"] if stored else "No business hours: always open.")
    return 0


def _replies(args: argparse.Namespace, business: Business, out: Callable[[str], None]) -> int:
    if args.set:
        texts = _read_json(args.set)
        if isinstance(texts, dict) and isinstance(texts.get("languages"), dict):
            texts = texts["languages"]
        try:
            with_overrides(texts)  # every text checked: placeholders, « », length
        except ValueError as exc:
            raise OpsError(f"{args.set}: {exc}") from None
        business.set_replies(texts)
    elif args.clear:
        business.set_replies(None)
    stored = business.replies()
    out(stored["texts"] if stored else "No changes: the shipped reply texts are used.")
    return 0


def main(argv: Sequence[str] | None = None, *, client: Any = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        return execute(args, Business(state_store(args, client)))

    return run(body)


if __name__ == "__main__":
    raise SystemExit(main())
