"""Cases about what reaches the webhook: duplicates, bursts, backlogs and hostile bodies."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from devstack.faults.checks import (
    all_2xx,
    all_posts,
    inbound_count,
    kept,
    status_times,
)
from devstack.faults.harness import Harness, single
from devstack.faults.model import (
    JSON,
    REFUSE,
    SESSION_GAP,
    Case,
    CaseView,
    Expect,
)


def happy(h: Harness) -> Case:
    return single(
        h,
        "happy path",
        lead_status="auto_replied",
        calls={"sendMessage": 1, "sendTemplate": 0},
        checks=[all_2xx, status_times],
    )


# WhatsApp ids that national numbering plans call invalid, and that 1MSG reaches: Brazil's
# older 8-digit mobile form (55 + area + 8 digits) and Mexico's 521 + 10 digits.
NATIONAL_IDS = (("Brazil 8-digit id", "55119"), ("Mexico 521 id", "521551"))


def national_ids(h: Harness) -> list[Case]:
    """Clients at such ids are answered at the id 1MSG gave, like any other."""
    cases = []
    for label, prefix in NATIONAL_IDS:
        case = happy(h)
        case.label, case.phone = label, prefix + h.phone()[-7:]
        cases.append(case)
    return cases


def duplicate_sequential(h: Harness, times: int = 3) -> Case:
    phone, mid, name, text = h.phone(), h.new_id(), h.name(), h.question()
    body: JSON = {}

    def act(case: Case) -> None:
        body.update(h.hook(h.message(case.chat_id, mid, text, name=name)))
        for _ in range(times):
            h.post(case, body)

    return Case(
        f"same webhook x{times}",
        phone,
        act,
        expects=[Expect((mid,))],
        lead_status="auto_replied",
        calls={"sendMessage": 1},
        checks=[all_posts(200), inbound_count(1)],
    )


def duplicate_concurrent(h: Harness, times: int = 8) -> Case:
    phone, mid, name, text = h.phone(), h.new_id(), h.name(), h.question()

    def act(case: Case) -> None:
        body = h.hook(h.message(case.chat_id, mid, text, name=name))
        h.post_concurrently(case, [body] * times)

    return Case(
        f"same webhook x{times} at once",
        phone,
        act,
        expects=[Expect((mid,))],
        lead_status="auto_replied",
        calls={"sendMessage": 1},
        checks=[all_posts(200), inbound_count(1)],
    )


def burst(h: Harness, *, concurrent: bool = False) -> Case:
    phone, name = h.phone(), h.name()
    texts = ("Hi!", "I want to ask something", h.question())
    ids = tuple(h.new_id() for _ in texts)

    def act(case: Case) -> None:
        now = int(time.time())
        bodies = [
            h.hook(h.message(case.chat_id, mid, text, name=name, at=now))
            for mid, text in zip(ids, texts, strict=True)
        ]
        if concurrent:
            h.post_concurrently(case, bodies)
            return
        for body in bodies:
            h.post(case, body)
            time.sleep(0.4)

    return Case(
        "burst of 3 at once" if concurrent else "burst of 3 in 1 s",
        phone,
        act,
        # Posted one by one the first opens the request; at once, any of them may.
        expects=[Expect(ids if concurrent else ids[:1])],
        lead_status="auto_replied",
        calls={"sendMessage": 1},
        checks=[all_posts(200), inbound_count(3)],
    )


def two_bursts(h: Harness) -> Case:
    """A burst 15 minutes ago (beyond the session gap), answered; then a new burst now."""
    phone, name = h.phone(), h.name()
    first, second = (h.new_id(), h.new_id()), (h.new_id(), h.new_id())

    def act(case: Case) -> None:
        then = int(time.time()) - SESSION_GAP - 300
        for i, mid in enumerate(first):
            h.post(
                case,
                h.hook(
                    h.message(
                        case.chat_id,
                        mid,
                        "Hello" if i == 0 else h.question(),
                        name=name,
                        at=then + i,
                    )
                ),
            )
        # The earlier request was answered before the client wrote again.
        h.wait_for(lambda: h.reply_settled(case.chat_id, first[0]), "the first reply")
        now = int(time.time())
        for i, mid in enumerate(second):
            h.post(
                case,
                h.hook(
                    h.message(
                        case.chat_id,
                        mid,
                        "Hi again" if i == 0 else h.question(),
                        name=name,
                        at=now + i,
                    )
                ),
            )

    def new_session(view: CaseView) -> str | None:
        session = (view.lead or {}).get("lead", {}).get("session_id")
        return None if session == second[0] else f"lead session {session}, expected {second[0]}"

    return Case(
        "two bursts, gap > session",
        phone,
        act,
        expects=[Expect(first[:1]), Expect(second[:1])],
        lead_status="auto_replied",
        calls={"sendMessage": 2},
        checks=[all_posts(200), inbound_count(4), new_session],
    )


def burst_in_one_body(h: Harness) -> Case:
    """Three messages of one chat in a single webhook body."""
    phone, name = h.phone(), h.name()
    texts = ("Hello", "I have a question", h.question())
    ids = tuple(h.new_id() for _ in texts)

    def act(case: Case) -> None:
        now = int(time.time())
        items = [
            h.message(case.chat_id, mid, text, name=name, at=now + i)
            for i, (mid, text) in enumerate(zip(ids, texts, strict=True))
        ]
        h.post(case, h.hook(*items))

    return Case(
        "3 messages in one webhook",
        phone,
        act,
        expects=[Expect(ids[:1])],
        lead_status="auto_replied",
        calls={"sendMessage": 1},
        checks=[all_posts(200), inbound_count(3)],
    )


def backlog(h: Harness) -> Case:
    """An old request (beyond the session gap) and a new one delivered together, as after a
    webhook outage: the old one is not answered any more (superseded), the new one is."""
    phone, name = h.phone(), h.name()
    old, new = h.new_id(), h.new_id()

    def act(case: Case) -> None:
        then, now = int(time.time()) - SESSION_GAP - 300, int(time.time())
        h.post(case, h.hook(h.message(case.chat_id, old, h.question(), name=name, at=then)))
        h.post(case, h.hook(h.message(case.chat_id, new, h.question(), name=name, at=now)))

    return Case(
        "old + new request together",
        phone,
        act,
        expects=[Expect((old,), REFUSE, "superseded"), Expect((new,))],
        lead_status="auto_replied",
        calls={"sendMessage": 1},
        checks=[all_posts(200), inbound_count(2)],
    )


# --------------------------------------------------------------------------- hostile bodies


def hostile_cases(h: Harness) -> list[Case]:
    """Bodies a webhook URL can receive that are not a plain client message."""
    cases: list[Case] = []

    def body_case(
        label: str,
        make: Callable[[Case], Any],
        *,
        raw: bool = False,
        answered: bool = False,
        checks: Sequence[Callable[[CaseView], str | None]] = (kept,),
        lead_exists: bool | None = False,
        path: str | None = None,
        opener: str | None = None,
    ) -> Case:
        def act(case: Case) -> None:
            body = make(case)
            if raw:
                h.post(case, raw=body, path=path)
            else:
                h.post(case, body, path=path)

        case = Case(
            label,
            h.phone(),
            act,
            expects=[Expect((opener,))] if answered and opener else [],
            calls={"sendMessage": 1 if answered else 0, "sendTemplate": 0},
            lead_exists=lead_exists,
            checks=[*(checks if path else [all_2xx, *checks])],
        )
        cases.append(case)
        return case

    def client(case: Case, text: str = "Hello, is anybody there?") -> JSON:
        return h.message(case.chat_id, h.new_id(), text, name=h.name())

    wrong = h.stack.webhook_path.replace(h.stack.settings.webhook_secret, "not-the-secret")
    body_case(
        "wrong secret -> 401",
        lambda c: h.hook(client(c)),
        path=wrong,
        checks=[all_posts(401)],
    )
    body_case("not JSON", lambda c: b"instanceId=100001&messages=hello", raw=True)
    body_case("empty body", lambda c: b"", raw=True)
    body_case("JSON but not an object", lambda c: [h.hook(client(c))])
    body_case("oversized (300 KB)", lambda c: h.hook(client(c, "x" * 300_000)))
    body_case("oversized (480 KB of emoji)", lambda c: h.hook(client(c, "\U0001f600" * 120_000)))
    body_case("wrong instanceId", lambda c: h.hook(client(c), instance_id=str(int(h.channel) + 1)))
    body_case("no instanceId", lambda c: {"messages": [client(c)]})
    body_case(
        'type: "calls"',
        lambda c: {
            "instanceId": h.channel,
            "type": "calls",
            "calls": [
                {"id": h.new_id(), "chatId": c.chat_id, "status": "offer", "time": int(time.time())}
            ],
        },
    )
    body_case(
        "raw entry[] (Meta shape)",
        lambda c: {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "contacts": [{"wa_id": c.phone, "profile": {"name": "Raw"}}],
                                "messages": [
                                    {
                                        "from": c.phone,
                                        "id": h.new_id(),
                                        "timestamp": str(int(time.time())),
                                        "type": "text",
                                        "text": {"body": "Hello from the raw shape"},
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        },
    )

    def missing_id(c: Case) -> JSON:
        item = client(c)
        del item["id"]
        return h.hook(item)

    body_case("message without id", missing_id)
    body_case(
        "ack for an unknown id",
        lambda c: {
            "instanceId": h.channel,
            "ack": [{"id": h.new_id(), "status": "read", "chatId": c.chat_id}],
        },
        checks=[],
    )
    body_case(
        'fromMe "1" (typed in the app)',
        lambda c: h.hook({**client(c, "We will call you back"), "fromMe": "1", "self": 0}),
        checks=[],
        lead_exists=None,
    )

    media_id, string_id, bare_id, mixed_id = (h.new_id() for _ in range(4))
    body_case(
        "valid item + broken items",
        lambda c: h.hook(123, {"chatId": c.chat_id}, {**client(c), "id": mixed_id}),
        answered=True,
        opener=mixed_id,
        lead_exists=True,
    )
    body_case(
        "media (image + caption)",
        lambda c: h.hook(
            {
                **client(c),
                "id": media_id,
                "type": "image",
                "body": "https://s3.eu-central-1.amazonaws.com/media/1.jpeg",
                "caption": "How much does this cost with delivery?",
            }
        ),
        answered=True,
        opener=media_id,
        checks=[],
        lead_exists=True,
    )
    body_case(
        "time as a string",
        lambda c: h.hook({**client(c), "id": string_id, "time": str(int(time.time()))}),
        answered=True,
        opener=string_id,
        checks=[],
        lead_exists=True,
    )
    body_case(
        "only id, chatId, body",
        lambda c: h.hook({"id": bare_id, "chatId": c.chat_id, "body": "price?"}),
        answered=True,
        opener=bare_id,
        checks=[],
        lead_exists=True,
    )
    return cases


def kept_bodies_since(h: Harness) -> Any:
    return time.time() - 0.001


def kept_bodies_check(h: Harness, since: Any) -> list[str]:
    """Every body the webhook said it kept is stored, and nothing else (the 401 stores none)."""
    # The cases of this scenario are the last ones run; their posts say what was kept.
    expected = sum(
        1
        for case in h.last_cases
        for p in case.posts
        if isinstance(p.body, dict) and p.body.get("kept")
    )
    got = h.hook_count(float(since))
    return [] if got == expected else [f"{got} raw bodies stored, the webhook kept {expected}"]
