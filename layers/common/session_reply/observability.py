"""Logger and metrics shared by the handlers and flows (Powertools).

Log keys are ids only: never message text, phone numbers, chat ids or names. A chat is
named in logs by its `lead_ref`, a short digest of the chat id that joins the log lines of
one lead without showing the number. Provider ids (WhatsApp's `wamid.…`) carry the number
too (base64 inside the id), and send keys hold them or a caller's key: they are logged as
digests as well (`provider_ref`, `send_ref`, `session_ref`), never as they are.
"""

from __future__ import annotations

import hashlib

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
metrics = Metrics()


def ref(value: str) -> str:
    """A short, stable digest (the first 16 hex digits of the SHA-256): joins the log lines
    about one thing without showing it. `python -c "import hashlib, sys;
    print(hashlib.sha256(sys.argv[1].encode()).hexdigest()[:16])" wamid.…` finds an id's."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def lead_ref(chat_id: str) -> str:
    """A short, stable digest of a chat id, for logs and keys that must not hold the number."""
    return ref(chat_id)


def count(name: str, value: int = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def count_by(name: str, value: int = 1, **dimensions: str) -> None:
    """A count with dimensions of its own (`reason="timeout"`), written at once: the shared
    `metrics` give every metric of an invocation the same dimensions."""
    with single_metric(name=name, unit=MetricUnit.Count, value=value) as metric:
        for key, dimension in dimensions.items():
            metric.add_dimension(name=key, value=dimension)
