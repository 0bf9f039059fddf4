"""Run the sample-event story (devstack/sample_events.py) through the real handlers in process."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from devstack import sample_events
from devstack.sample_events import STORY, Step
from tests.conftest import LambdaContext, Stack, load_handler


def run_story(
    stack: Stack, around: Callable[[str], Any] | None = None
) -> Iterator[tuple[Step, Any, int]]:
    """Each step with the handler's response and the number of 1MSG sends it made.
    `around(function)`, when given, is a context manager entered for the handler's call."""
    handlers = {
        sample_events.WEBHOOK: stack.webhook.lambda_handler,
        sample_events.SENDER: stack.sender.lambda_handler,
        sample_events.LEAD_API: stack.manager_api.lambda_handler,
        sample_events.POLLER: load_handler("status_poller").lambda_handler,
    }
    now = time.time()
    for step in STORY:
        event = sample_events.make_current(sample_events.load(step.event), now)
        before = len(stack.sends())
        if around is None:
            response = handlers[step.function](event, LambdaContext())
        else:
            with around(step.function):
                response = handlers[step.function](event, LambdaContext())
        yield step, response, len(stack.sends()) - before
