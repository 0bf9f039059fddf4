"""The adapters a flow works with, built from the settings unless a test passes its own."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from session_reply.bus import EventBus
from session_reply.queue import SendQueue
from session_reply.secrets import get_secret
from session_reply.settings import BEDROCK, Settings, get_settings
from session_reply.store import Store

if TYPE_CHECKING:  # httpx is imported only by the functions that call 1MSG
    from session_reply.bedrock import BedrockModel
    from session_reply.onemsg.client import OneMsgClient


@dataclass
class Context:
    settings: Settings
    store: Store
    queue: SendQueue
    bus: EventBus
    _onemsg: OneMsgClient | None = field(default=None, repr=False)
    _subject_model: BedrockModel | None = field(default=None, repr=False)

    @property
    def onemsg(self) -> OneMsgClient:
        """Created on first use: only the sender and the poller talk to 1MSG."""
        if self._onemsg is None:
            from session_reply.onemsg.client import get_client

            s = self.settings
            token = get_secret(s.onemsg_token_param)
            return get_client(
                s.onemsg_api_url,
                s.onemsg_channel_id,
                token,
                s.onemsg_auth,
                s.onemsg_timeout_seconds,
            )
        return self._onemsg

    @property
    def subject_model(self) -> BedrockModel | None:
        """The model that names subjects: only with SubjectExtractor=bedrock (its client is
        built on first use); None in rules mode."""
        if self.settings.subject_extractor != BEDROCK:
            return None
        if self._subject_model is None:
            from session_reply.bedrock import BedrockModel

            self._subject_model = BedrockModel(self.settings.bedrock_model_id)
        return self._subject_model

    @classmethod
    def default(cls) -> Context:
        return _default_context()

    @classmethod
    def from_settings(cls, settings: Settings, onemsg: OneMsgClient | None = None) -> Context:
        return cls(
            settings=settings,
            store=Store(settings.table_name),
            queue=SendQueue(settings.send_queue_url),
            bus=EventBus(settings.event_bus_name),
            _onemsg=onemsg,
        )


@lru_cache(maxsize=1)
def _default_context() -> Context:
    return Context.from_settings(get_settings())


def prepare(
    *,
    events: bool = True,
    queue: bool = False,
    secrets: bool = False,
    onemsg: bool = False,
    phone: bool = False,
    language: bool = False,
) -> Context:
    """Build during INIT what the first request builds anyway: the settings and the AWS
    clients (EventBridge's, SQS's, SSM's provider); load the modules of the 1MSG client and
    of the phone-number check, and the language model. Nothing here calls the network; the
    handlers call it at import, while the collector is off."""
    ctx = Context.default()
    _reseed_after_restore()
    if events:
        from session_reply.bus import _events_client

        _events_client()
    if queue:
        ctx.queue.client  # noqa: B018 - built on first use
    if secrets:
        from session_reply.secrets import ssm_provider

        ssm_provider()
    if onemsg:
        from session_reply.onemsg.client import warm_up

        warm_up()
    if phone:
        import phonenumbers  # noqa: F401 - its metadata module, loaded once
    if language:
        from session_reply.domain.language import scores

        scores("hello", ["en"])  # loads the model file once
    return ctx


@lru_cache(maxsize=1)
def _reseed_after_restore() -> None:
    """With SnapStart (the template's `SnapStart` parameter) many environments resume from
    one snapshot of INIT: `random` (the backoff and retry jitter) is reseeded in each after
    the restore, or they would all retry at the same moments. The hook's library is part of
    Lambda's Python runtime; elsewhere there is nothing to restore."""
    try:
        from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]
    except ImportError:
        return
    register_after_restore(random.seed)


@lru_cache(maxsize=1)
def prepare_send() -> None:
    """Load, once per container, everything a send needs beyond what INIT built: the send
    flow and the request summariser (subject, topic and catalogue rules), the EventBridge
    client, the token's SSM provider, the 1MSG client's modules and TLS context, the
    phone-number check and the language model, and in bedrock mode Bedrock's client. The
    sender calls it after its first batch, so an auto-reply's first invocation, which only
    waits out the burst, pays for it while its record waits. Nothing here calls the
    network."""
    import session_reply.flows.send_reply  # noqa: F401

    ctx = prepare(secrets=True, onemsg=True, phone=True, language=True)
    if ctx.subject_model is not None:
        _ = ctx.subject_model.client
