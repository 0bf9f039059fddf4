"""The catalogue and the business hours through the real handlers: an entry names the reply
and picks its team; a request while closed gets the out-of-hours reply and its escalation
waits for the opening."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from session_reply.flows.business import HOURS_KEY, REPLIES_KEY, entry_key, entry_record
from session_reply.store import Store, Update

from tests.conftest import Stack, hook_event, reset_caches

ALWAYS_CLOSED_TODAY = {"timezone": "UTC", "week": {"mon": ["09:00-10:00"]}}


def store() -> Store:
    from session_reply.settings import get_settings

    return Store(get_settings().table_name)


def put_entry(raw: dict[str, Any]) -> None:
    store().update(Update(key=entry_key(raw["id"]), sets={**entry_record(raw), "removed": False}))
    reset_caches()


def put_hours(schedule: dict[str, Any]) -> None:
    store().update(Update(key=HOURS_KEY, sets={"schedule": json.dumps(schedule)}))
    reset_caches()


def closed_now() -> dict[str, Any]:
    """A schedule open one hour a week, that hour being a day ahead: closed now."""
    opens = datetime.now(UTC) + timedelta(days=1)
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[opens.weekday()]
    return {"timezone": "UTC", "week": {day: [f"{opens:%H}:00-{opens:%H}:59"]}}


def test_reply_names_the_catalogue_entry_in_the_clients_language_when_the_request_matches_it(
    stack: Stack,
) -> None:
    # Given a catalogue entry for corner sofas
    put_entry(
        {
            "id": "corner-sofas",
            "names": {"en": "Corner sofas", "ru": "Угловые диваны"},
            "match": ["corner sofa", "углов диван"],
        }
    )
    # When a client asks about one in Russian
    stack.post_hook(hook_event("webhook/inbound.json", body="Здравствуйте, есть угловой диван?"))
    stack.drain()
    # Then the reply is in Russian and names the entry
    body = stack.sends()[0]["body"]
    assert body.startswith("Здравствуйте, Maria!")
    assert "«Угловые диваны»" in body
    lead = stack.lead()["lead"]
    assert (lead["catalogue_entry"], lead["language"]) == ("corner-sofas", "ru")


def test_request_goes_to_the_entrys_team_when_the_entry_names_one(stack: Stack) -> None:
    # Given two managers, and an entry that Boris handles
    for ident, name in (("anna", "Anna"), ("boris", "Boris")):
        store().put_manager({"id": ident, "name": name, "active": True, "topics": []})
    put_entry(
        {"id": "crm", "names": {"en": "CRM for sales teams"}, "match": ["crm"], "team": ["boris"]}
    )
    # When a client asks about the CRM
    stack.post_hook(hook_event("webhook/inbound.json", body="tell me about your crm"))
    stack.drain()
    # Then Boris reviews it and the reply says so
    assert stack.lead()["lead"]["manager_id"] == "boris"
    assert "«CRM for sales teams». Boris is reviewing" in stack.sends()[0]["body"]


def test_request_while_closed_gets_the_out_of_hours_reply_when_hours_are_set(
    stack: Stack,
) -> None:
    # Given business hours that are closed now
    put_hours(closed_now())
    # When a client writes
    stack.post_hook(hook_event("webhook/inbound.json"))
    stack.drain()
    # Then the reply says the team is closed and when it is back; escalation waits for it
    body = stack.sends()[0]["body"]
    assert "We are closed now" in body and "tomorrow at" in body
    assert "«delivery to Almaty»" in body
    lead = stack.lead()["lead"]
    assert lead["out_of_hours"] is True
    assert float(lead["awaiting_since"]) >= float(lead["team_back_at"])


def test_request_while_open_gets_the_usual_reply_when_hours_are_set(stack: Stack) -> None:
    put_hours(
        {
            "timezone": "UTC",
            "week": {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
        }
    )
    stack.post_hook(hook_event("webhook/inbound.json"))
    stack.drain()
    assert "is reviewing it and will reply shortly" in stack.sends()[0]["body"]
    assert stack.lead()["lead"]["out_of_hours"] is False


def test_reply_uses_the_operators_text_when_the_language_has_one_in_the_table(
    stack: Stack,
) -> None:
    # Given a changed Russian reply (make replies)
    texts = {"ru": {"reply": "Добрый день, {{1}}! Ваш вопрос «{{2}}» у {{3}}."}}
    store().update(Update(key=REPLIES_KEY, sets={"texts": json.dumps(texts, ensure_ascii=False)}))
    reset_caches()
    # When a client writes in Russian
    stack.post_hook(hook_event("webhook/inbound.json", body="Сколько стоит доставка в Астану?"))
    stack.drain()
    # Then the reply is the operator's text
    assert stack.sends()[0]["body"].startswith("Добрый день, Maria! Ваш вопрос «доставка в Астану»")
