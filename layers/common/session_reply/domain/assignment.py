"""Which manager reviews a request.

Request -> team: the managers of the catalogue entry it matched, if any is active; else the
active managers whose `topics` list the request's category; when none does, the
generalists (no topics); when there are none either, every active manager. Within the team,
those who list the client's language, when some do and some do not.
Within the team, round robin over those under their capacity (the team's counter gives the
turn; see flows/assign_manager.py). A returning lead keeps its manager while that manager is
active. When nobody is available the lead is `unassigned` and the reply names the fallback
(e.g. "our team").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

ASSIGNED = "assigned"
KEPT = "kept"  # a returning lead went back to its manager
UNASSIGNED = "unassigned"


@dataclass(frozen=True, slots=True)
class Manager:
    id: str
    name: str
    topics: tuple[str, ...] = ()
    active: bool = True
    capacity: int = 0  # leads waiting for this manager's first reply; 0 = no limit
    load: int = 0
    in_table: bool = True  # False: from the Managers parameter, no capacity bookkeeping
    languages: tuple[str, ...] = ()  # ISO 639-1 codes they answer in; none = not said

    @property
    def available(self) -> bool:
        return self.active and (self.capacity <= 0 or self.load < self.capacity)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Manager:
        return cls(
            id=str(item["id"]),
            name=str(item.get("name") or item["id"]),
            topics=tuple(str(t) for t in item.get("topics") or ()),
            active=bool(item.get("active", True)),
            capacity=int(item.get("capacity") or 0),
            load=int(item.get("load") or 0),
            languages=tuple(str(c) for c in item.get("languages") or ()),
        )


def manager_id(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "manager"


def from_names(names: Iterable[str]) -> list[Manager]:
    """The Managers template parameter, used until the table has a roster."""
    return [Manager(id=manager_id(n), name=n, in_table=False) for n in names if n.strip()]


def team_for(
    topic: str,
    managers: Sequence[Manager],
    language: str | None = None,
    team_ids: Sequence[str] = (),
) -> tuple[str, list[Manager]]:
    """(team key, members) for a request; members sorted by id so turns are stable. A
    catalogue entry's team comes first; within the team, those who speak the client's
    language, when any does."""
    key, team = _team(topic, [m for m in managers if m.active], team_ids)
    speakers = [m for m in team if language and language in m.languages]
    if speakers and len(speakers) < len(team):
        return f"{key}:{language}", speakers
    return key, team


def _team(topic: str, active: list[Manager], team_ids: Sequence[str]) -> tuple[str, list[Manager]]:
    named = [m for m in active if m.id in team_ids]
    if named:
        return f"entry:{','.join(sorted(m.id for m in named))}", sorted(named, key=lambda m: m.id)
    specialists = [m for m in active if topic in m.topics]
    if specialists:
        return f"topic:{topic}", sorted(specialists, key=lambda m: m.id)
    generalists = [m for m in active if not m.topics]
    if generalists:
        return "general", sorted(generalists, key=lambda m: m.id)
    return "all", sorted(active, key=lambda m: m.id)


def candidates(team: Sequence[Manager], turn: int) -> list[Manager]:
    """The team's available managers in round-robin order starting at this turn (turns
    count from 1: the first request goes to the first manager)."""
    available = [m for m in team if m.available]
    if not available:
        return []
    start = (turn - 1) % len(available)
    return available[start:] + available[:start]


def sticky(current_id: str | None, managers: Sequence[Manager]) -> Manager | None:
    """A returning lead's previous manager, if still active (capacity does not apply:
    the client already knows them)."""
    return next((m for m in managers if m.id == current_id and m.active), None)
