"""Requests that opened but whose reply the sender never took: queued again.

The webhook records the opener, then queues its reply. If it stops in between (a crash, a
timeout) and 1MSG does not retry the webhook, nothing else would queue it. Each opened
request marks its lead as waiting for a reply (`AWAITING_REPLY` in the sparse index); the
scheduled poller looks at the ones older than `SWEEP_AFTER_SECONDS`:

- no send item for the request yet: the reply is queued again. Safe to repeat: SQS drops a
  copy with the same deduplication id, and the send ledger sends a key once;
- the send is settled (accepted, refused, skipped, unknown): the mark is taken off;
- the send is in flight: left to the sender.
"""

from __future__ import annotations

from dataclasses import dataclass

from session_reply.flows.context import Context
from session_reply.observability import count, logger, ref
from session_reply.queue import AUTO_REPLY, SendCommand, send_key
from session_reply.store import (
    AWAITING_ATTRS,
    AWAITING_REPLY,
    FINAL_SEND_STATES,
    UNKNOWN_SEND,
    now,
)


@dataclass(slots=True)
class SweepResult:
    requeued: int = 0
    cleared: int = 0


def sweep_requests(ctx: Context | None = None) -> SweepResult:
    ctx = ctx or Context.default()
    result = SweepResult()
    older_than = now() - ctx.settings.sweep_after_seconds
    for lead in ctx.store.awaiting(AWAITING_REPLY, older_than, ctx.settings.poll_batch_size):
        chat_id, session_id = str(lead.get("chat_id") or ""), str(lead.get("session_id") or "")
        if not chat_id or not session_id:
            continue
        command = SendCommand(
            kind=AUTO_REPLY,
            key=session_id,  # the opener's id, as the webhook queued it
            chat_id=chat_id,
            session_id=session_id,
            requested_at=float(lead.get("awaiting_since") or now()),
        )
        out = ctx.store.get_out(chat_id, send_key(command))
        if out is None:
            ctx.queue.enqueue(command)
            result.requeued += 1
            count("ReplyRequeued")
            logger.warning(
                "reply queued again by the sweep", extra={"session_ref": ref(session_id)}
            )
        elif out.get("state") in FINAL_SEND_STATES or out.get("state") == UNKNOWN_SEND:
            ctx.store.update_request_if_waiting(
                chat_id, session_id, AWAITING_REPLY, {}, removes=AWAITING_ATTRS
            )
            result.cleared += 1
    return result
