"""The 1MSG HTTP client (httpx), one per container so connections are reused."""

from __future__ import annotations

import ssl
from functools import lru_cache
from typing import Any

import httpx

from session_reply.onemsg.errors import (
    OutcomeUnknownError,
    ProviderUnavailableError,
    SendOutcome,
    classify,
)


class OneMsgClient:
    """Calls `{base_url}/{channel_id}/{method}`.

    The token goes as `Authorization: Bearer` (1MSG's own examples) or, with
    `auth="query"`, as `?token=`. URLs are never logged, because the query form holds
    the token.
    """

    def __init__(
        self,
        base_url: str,
        channel_id: str,
        token: str,
        *,
        auth: str = "bearer",
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Accept": "application/json", "User-Agent": "session-reply/0.1"}
        params: dict[str, str] = {}
        if auth == "query":
            params["token"] = token
        else:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=f"{base_url.rstrip('/')}/{channel_id}/",
            headers=headers,
            params=params,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
            transport=transport,
            verify=tls_context(),
        )

    def close(self) -> None:
        self._http.close()

    def _post_send(self, method: str, payload: dict[str, Any]) -> SendOutcome:
        try:
            response = self._http.post(method, json=payload)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # The request never reached 1MSG: safe to retry.
            raise ProviderUnavailableError(f"cannot reach 1MSG: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            # Read timeout, reset after the request left: 1MSG may have sent it.
            raise OutcomeUnknownError(
                f"1MSG {method} outcome unknown: {type(exc).__name__}"
            ) from exc
        return classify(response.status_code, _json(response))

    def send_message(self, chat_id: str, body: str) -> SendOutcome:
        return self._post_send("sendMessage", {**recipient(chat_id), "body": body})

    def send_template(
        self, chat_id: str, template: str, namespace: str, language: str, params: list[str]
    ) -> SendOutcome:
        payload: dict[str, Any] = {
            **recipient(chat_id),
            "template": template,
            "namespace": namespace,
            "language": {"policy": "deterministic", "code": language},
            "params": [
                {"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}
            ],
        }
        return self._post_send("sendTemplate", payload)

    def hook_info(self, message_id: str) -> Any:
        """The raw `hookInfo` answer; None when 1MSG does not know the id (legacy 404)."""
        try:
            response = self._http.get("hookInfo", params={"messageId": message_id})
        except httpx.TransportError as exc:
            raise ProviderUnavailableError(f"hookInfo failed: {type(exc).__name__}") from exc
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            classify(response.status_code, _json(response))
        return _json(response)

    def history(self, chat_id: str, since: int) -> Any:
        """The raw `GET messages?chatId=&min_time=` answer: the chat's messages since
        `since` (unix seconds). Raises when 1MSG cannot answer (any 4xx/5xx, timeout)."""
        try:
            response = self._http.get("messages", params={"chatId": chat_id, "min_time": since})
        except httpx.TransportError as exc:
            raise ProviderUnavailableError(f"messages failed: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            classify(response.status_code, _json(response))
        return _json(response)


def recipient(chat_id: str) -> dict[str, str]:
    """`phone` (digits) for a chat by number, as 1MSG documents it; `chatId` as given for
    any other address (a WhatsApp linked id, `…@lid`, has no phone number)."""
    user, _, server = chat_id.partition("@")
    if server in ("", "c.us"):
        return {"phone": user}
    return {"chatId": chat_id}


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:500]


@lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """The TLS settings of every 1MSG client: the CA bundle is read once per container."""
    return httpx.create_ssl_context()


def warm_up() -> None:
    """Load what building the first client loads (the CA bundle, httpx's transport), so
    that the first send, which needs the token first, builds its client in no time."""
    httpx.Client(verify=tls_context()).close()


@lru_cache(maxsize=4)
def get_client(
    base_url: str, channel_id: str, token: str, auth: str, timeout: float
) -> OneMsgClient:
    """One client per configuration per container (keeps the TLS connection warm)."""
    return OneMsgClient(base_url, channel_id, token, auth=auth, timeout=timeout)
