"""The 1MSG HTTP client (`session_reply.onemsg.client`), with httpx mocked by respx."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
import respx
from session_reply.onemsg.client import OneMsgClient, get_client
from session_reply.onemsg.errors import (
    Accepted,
    OutcomeUnknownError,
    ProviderAuthError,
    ProviderUnavailableError,
    Queued,
    WindowClosedError,
)

BASE = "https://onemsg.test"
CHANNEL = "100001"
TOKEN = "jwt.header.payload"
CHAT = "77011234567@c.us"
WAMID = "wamid.HBgLNzcwMTEyMzQ1NjcVAgARGBJSRVBMWTAwMDAwMDAwMDAwMQA"
SENT = {"sent": True, "id": WAMID, "message": "Sent to 77011234567@c.us"}


@pytest.fixture
def onemsg() -> Iterator[respx.MockRouter]:
    """1MSG at BASE/CHANNEL; any request to an unmocked URL fails the test (no sockets)."""
    with respx.mock(base_url=f"{BASE}/{CHANNEL}", assert_all_called=False) as router:
        yield router


@pytest.fixture
def client() -> Iterator[OneMsgClient]:
    one = OneMsgClient(BASE, CHANNEL, TOKEN)
    yield one
    one.close()


@pytest.fixture
def query_client() -> Iterator[OneMsgClient]:
    one = OneMsgClient(f"{BASE}/", CHANNEL, TOKEN, auth="query")
    yield one
    one.close()


# -- auth ----------------------------------------------------------------------------------


def test_send_uses_bearer_header_and_no_token_in_url_when_auth_is_default(
    onemsg: respx.MockRouter, client: OneMsgClient
) -> None:
    route = onemsg.post("/sendMessage").respond(200, json=SENT)

    client.send_message(CHAT, "Hello")

    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "token" not in request.url.params
    assert TOKEN not in str(request.url)


def test_send_uses_token_query_and_no_header_when_auth_is_query(
    onemsg: respx.MockRouter, query_client: OneMsgClient
) -> None:
    route = onemsg.post("/sendMessage").respond(200, json=SENT)

    query_client.send_message(CHAT, "Hello")

    request = route.calls.last.request
    assert request.url.params["token"] == TOKEN
    assert "Authorization" not in request.headers


def test_hook_info_sends_token_and_message_id_when_auth_is_query(
    onemsg: respx.MockRouter, query_client: OneMsgClient
) -> None:
    route = onemsg.get("/hookInfo").respond(200, json={"hooks": []})

    query_client.hook_info(WAMID)

    params = route.calls.last.request.url.params
    assert params["token"] == TOKEN
    assert params["messageId"] == WAMID


def test_requests_go_to_channel_path_when_base_url_has_a_trailing_slash(
    onemsg: respx.MockRouter, query_client: OneMsgClient
) -> None:
    route = onemsg.post("/sendMessage").respond(200, json=SENT)

    query_client.send_message(CHAT, "Hello")

    assert route.calls.last.request.url.path == f"/{CHANNEL}/sendMessage"


def test_requests_ask_for_json_when_sent(onemsg: respx.MockRouter, client: OneMsgClient) -> None:
    route = onemsg.post("/sendMessage").respond(200, json=SENT)

    client.send_message(CHAT, "Hello")

    assert route.calls.last.request.headers["Accept"] == "application/json"


# -- sendMessage ---------------------------------------------------------------------------


def test_send_message_posts_digits_phone_and_body_when_chat_is_private(
    onemsg: respx.MockRouter, client: OneMsgClient
) -> None:
    route = onemsg.post("/sendMessage").respond(200, json=SENT)

    client.send_message(CHAT, "Hello, Anna! «delivery»")

    assert json.loads(route.calls.last.request.content) == {
        "phone": "77011234567",
        "body": "Hello, Anna! «delivery»",
    }


def test_send_message_returns_accepted_with_provider_id_when_1msg_sent_it(
    onemsg: respx.MockRouter, client: OneMsgClient
) -> None:
    onemsg.post("/sendMessage").respond(200, json=SENT)

    assert client.send_message(CHAT, "Hello") == Accepted(provider_id=WAMID)


def test_send_message_returns_queued_when_1msg_answers_with_job_id(
    onemsg: respx.MockRouter, client: OneMsgClient
) -> None:
    onemsg.post("/sendMessage").respond(200, json={"sent": False, "jobId": "job-7"})

    assert client.send_message(CHAT, "Hello") == Queued(job_id="job-7")


def test_send_message_raises_window_closed_when_1msg_refuses_with_400(
    onemsg: respx.MockRouter, client: OneMsgClient
) -> None:
    onemsg.post("/sendMessage").respond(400, json={"error": "Dialog window is closed"})

    with pytest.raises(WindowClosedError):
        client.send_message(CHAT, "Hello")


def test_send_message_calls_outcome_unknown_when_2xx_body_is_not_json(
    onemsg: respx.MockRouter, client: OneMsgClient
) -> None:
    onemsg.post("/sendMessage").respond(200, text="<html>maintenance</html>")

    with pytest.raises(OutcomeUnknownError, match="without a JSON object"):
        client.send_message(CHAT, "Hello")


def test_send_message_raises_auth_error_when_token_is_refused(
    onemsg: respx.MockRouter, client: OneMsgClient
) -> None:
    onemsg.post("/sendMessage").respond(401, json={"error": "Unauthorized"})

    with pytest.raises(ProviderAuthError):
        client.send_message(CHAT, "Hello")


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ConnectTimeout])
def test_send_message_raises_unavailable_when_connection_never_reached_1msg(
    onemsg: respx.MockRouter, client: OneMsgClient, error: type[Exception]
) -> None:
    onemsg.post("/sendMessage").mock(side_effect=error)

    with pytest.raises(ProviderUnavailableError) as caught:
        client.send_message(CHAT, "Hello")

    assert not isinstance(caught.value, OutcomeUnknownError)


@pytest.mark.parametrize("error", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError])
def test_send_message_raises_outcome_unknown_when_request_left_and_answer_was_lost(
    onemsg: respx.MockRouter, client: OneMsgClient, error: type[Exception]
) -> None:
    # Given 1MSG received the request but the answer never came back
    onemsg.post("/sendMessage").mock(side_effect=error)

    # Then the sender must reconcile before any resend
    with pytest.raises(OutcomeUnknownError, match="sendMessage"):
        client.send_message(CHAT, "Hello")


def test_send_message_error_never_holds_the_token_when_auth_is_query(
    onemsg: respx.MockRouter, query_client: OneMsgClient
) -> None:
    onemsg.post("/sendMessage").mock(side_effect=httpx.ReadTimeout)

    with pytest.raises(OutcomeUnknownError) as caught:
        query_client.send_message(CHAT, "Hello")

    assert TOKEN not in str(caught.value)


def test_client_gives_connect_a_shorter_timeout_when_timeout_is_long(
    onemsg: respx.MockRouter,
) -> None:
    route = onemsg.post("/sendMessage").respond(200, json=SENT)
    one = OneMsgClient(BASE, CHANNEL, TOKEN, timeout=10.0)

    one.send_message(CHAT, "Hello")
    one.close()

    timeout = route.calls.last.request.extensions["timeout"]
    assert timeout["connect"] == 3.0
    assert timeout["read"] == 10.0


def test_client_keeps_connect_timeout_within_total_when_timeout_is_short(
    onemsg: respx.MockRouter,
) -> None:
    route = onemsg.post("/sendMessage").respond(200, json=SENT)
    one = OneMsgClient(BASE, CHANNEL, TOKEN, timeout=1.5)

    one.send_message(CHAT, "Hello")
    one.close()

    assert route.calls.last.request.extensions["timeout"]["connect"] == 1.5


# -- sendTemplate --------------------------------------------------------------------------


def test_send_template_posts_documented_payload_when_window_is_closed(
    onemsg: respx.MockRouter, client: OneMsgClient
) -> None:
    route = onemsg.post("/sendTemplate").respond(200, json=SENT)

    outcome = client.send_template(CHAT, "request_received", "ns-1", "en", ["Anna", "delivery"])

    assert outcome == Accepted(provider_id=WAMID)
    assert json.loads(route.calls.last.request.content) == {
        "phone": "77011234567",
        "template": "request_received",
        "namespace": "ns-1",
        "language": {"policy": "deterministic", "code": "en"},
        "params": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "Anna"},
                    {"type": "text", "text": "delivery"},
                ],
            }
        ],
    }


def test_send_template_raises_outcome_unknown_when_read_times_out(
    onemsg: respx.MockRouter, client: OneMsgClient
) -> None:
    onemsg.post("/sendTemplate").mock(side_effect=httpx.ReadTimeout)

    with pytest.raises(OutcomeUnknownError, match="sendTemplate"):
        client.send_template(CHAT, "t", "ns", "en", [])


# -- hookInfo ------------------------------------------------------------------------------


def test_hook_info_returns_answer_when_1msg_knows_the_id(
    onemsg: respx.MockRouter, client: OneMsgClient
) -> None:
    answer = {"hooks": [{"id": WAMID, "status": "read", "timestamp": 1_700_000_000}]}
    route = onemsg.get("/hookInfo").respond(200, json=answer)

    assert client.hook_info(WAMID) == answer
    assert route.calls.last.request.url.params["messageId"] == WAMID


def test_hook_info_returns_none_when_1msg_answers_404(
    onemsg: respx.MockRouter, client: OneMsgClient
) -> None:
    onemsg.get("/hookInfo").respond(404, json={"error": "Not found"})

    assert client.hook_info(WAMID) is None


def test_hook_info_returns_text_when_answer_is_not_json(
    onemsg: respx.MockRouter, client: OneMsgClient
) -> None:
    onemsg.get("/hookInfo").respond(200, text="")

    assert client.hook_info(WAMID) == ""


@pytest.mark.parametrize(
    ("status_code", "error"),
    [(500, ProviderUnavailableError), (503, ProviderUnavailableError), (401, ProviderAuthError)],
)
def test_hook_info_raises_typed_error_when_1msg_fails(
    onemsg: respx.MockRouter, client: OneMsgClient, status_code: int, error: type[Exception]
) -> None:
    onemsg.get("/hookInfo").respond(status_code, json={"error": "boom"})

    with pytest.raises(error):
        client.hook_info(WAMID)


@pytest.mark.parametrize("transport_error", [httpx.ConnectError, httpx.ReadTimeout])
def test_hook_info_raises_unavailable_when_transport_fails(
    onemsg: respx.MockRouter, client: OneMsgClient, transport_error: type[Exception]
) -> None:
    # A read is safe to repeat: even a timeout is just "unavailable"
    onemsg.get("/hookInfo").mock(side_effect=transport_error)

    with pytest.raises(ProviderUnavailableError) as caught:
        client.hook_info(WAMID)

    assert not isinstance(caught.value, OutcomeUnknownError)


# -- get_client ----------------------------------------------------------------------------


@pytest.fixture
def fresh_client_cache() -> Iterator[None]:
    get_client.cache_clear()
    yield
    get_client.cache_clear()


@pytest.mark.usefixtures("fresh_client_cache")
def test_get_client_reuses_one_client_when_configuration_is_the_same() -> None:
    first = get_client(BASE, CHANNEL, TOKEN, "bearer", 10.0)

    assert get_client(BASE, CHANNEL, TOKEN, "bearer", 10.0) is first
    assert get_client(BASE, CHANNEL, "other-token", "bearer", 10.0) is not first


def test_history_asks_for_the_chat_since_min_time_when_reading_messages(
    onemsg: respx.MockRouter, client: OneMsgClient
) -> None:
    answer = {"messages": [{"id": WAMID, "body": "Hello", "fromMe": True, "chatId": CHAT}]}
    route = onemsg.get("/messages").respond(200, json=answer)

    assert client.history(CHAT, 1_700_000_000) == answer
    params = route.calls.last.request.url.params
    assert (params["chatId"], params["min_time"]) == (CHAT, "1700000000")


def test_history_raises_when_1msg_cannot_answer(
    onemsg: respx.MockRouter, client: OneMsgClient
) -> None:
    onemsg.get("/messages").respond(500, json={"error": "Internal server error"})

    with pytest.raises(ProviderUnavailableError):
        client.history(CHAT, 0)
