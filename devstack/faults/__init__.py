"""``make faults``: every 1MSG fault and webhook quirk against the full local stack.

One `LocalStack` serves a pass (moto, the function workers, the gateway, the SQS pump, the
poller on a 1 s timer and the 1MSG simulator), with function settings made for a fast run
(`FAST_ENV`). The scenarios run one after the other; each uses its own fresh chats, and the
simulator's faults and delivery options are scoped to those chats' phone numbers, so the
finale can run fifty chats with mixed faults at once. A second, smaller pass runs with a
fallback template configured (`TEMPLATE_ENV`): a closed window must then get the template
exactly once.

What is counted, per scenario and in total:

- posted: webhooks the harness POSTed (1MSG's own echoes and acks not counted)
- expected: client requests that must be answered: an auto-reply 1MSG accepted, or a
  refusal recorded with its reason
- accepted: sends 1MSG accepted for the scenario's chats (the simulator's record)
- dup: accepted sends beyond one per request (a chat answered twice, or answered when it
  must not be)
- lost: requests with neither an accepted reply nor a recorded refusal (judged from the lead
  API `GET /leads/{chatId}` and the simulator)
- refused: requests refused with a recorded reason (`sent: false`, closed window, ...)
- 5xx: webhooks the harness posted again, as 1MSG's guaranteedHooks does, after a 5xx answer
  or none within 30 s
- hookerr: 1MSG's own webhooks (echo, acks) about the scenario's sends that timed out or got
  no 2xx (the simulator gives up after 5 s; guaranteedHooks is on, so it tries again)
- settle: seconds from the first POST until the send queue is drained and the expected
  statuses are in
- checks: the scenario's own expectations (exact 1MSG call counts, reasons, statuses, ...)

The run exits 1 when any duplicate, lost request or failed check is found. A scenario that
exposes a known product bug (`Scenario.known_bug`) is reported as XFAIL and does not fail the
run; when it starts passing (XPASS) the run fails, so the mark is dropped with the fix.

The 1MSG faults: 429, 500, 401, `sent: false`, a closed window (three answer styles), an
invalid recipient, `queued` (jobId), a delay beyond the client's timeout after accepting, a
refused connection (the simulator stops listening for a while: `OneMsgSimulator.outage`),
duplicated, reordered, withheld (hookInfo only), early and failed acks; and hostile webhook
bodies. `python -m devstack faults --only <name> --seed <n> --chats <n>` runs a part.

The package, by concern:

- `model`: the run's settings (`FAST_ENV`, deadlines), `Case`, `Expect`, `Scenario` and results
- `harness`: `Harness` (posts as 1MSG does, reads the lead API and the simulator, waits for a
  scenario to settle) and `fault_stack`
- `checks`: `evaluate` (the counts) and the checks a case names
- `cases_webhook`, `cases_onemsg`, `cases_aws`, `cases_clock`: the cases, per fault family
- `suite`: the scenarios of both passes, in table order, and the finale
- `cli`: `main`, the per-scenario lines and the table
"""

from devstack.faults.cli import main

__all__ = ["main"]
