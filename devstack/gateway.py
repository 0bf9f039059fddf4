"""A local HTTP API (payload format 2.0) that serves exactly the template's HttpApi routes.

Powertools' `APIGatewayHttpResolver` reads fields that small HTTP-to-Lambda adapters leave out
(``requestContext.stage``, ``requestContext.http``), so this gateway builds the complete event
that API Gateway sends, and maps the function's result back the way API Gateway does (including
the 404 and 500 bodies a client sees).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from devstack.runtime import FunctionError
from devstack.template import Route

log = logging.getLogger("devstack.gateway")

LOCAL_API_ID = "local"
LOCAL_CALLER = {
    "accessKey": "ASIALOCALDEVSTACK000",
    "callerId": "AIDALOCALDEVSTACK0000",
    "userId": "AIDALOCALDEVSTACK0000",
    "cognitoIdentity": None,
    "principalOrgId": None,
}

Invoke = Callable[[str, dict[str, Any]], Any]


@dataclass(frozen=True)
class _CompiledRoute:
    route: Route
    pattern: re.Pattern[str]


def compile_route(route: Route) -> _CompiledRoute:
    """``/leads/{chatId}`` -> a regex with a named group per path parameter."""
    if route.path == "$default":  # an HttpApi event without Path: the catch-all route
        return _CompiledRoute(route, re.compile(r"^/.*$"))
    parts: list[str] = []
    for segment in re.split(r"(\{[^}]+\})", route.path):
        if segment.startswith("{") and segment.endswith("}"):
            name = segment[1:-1]
            if name.endswith("+"):
                parts.append(f"(?P<{name[:-1]}>.+)")
            else:
                parts.append(f"(?P<{name}>[^/]+)")
        else:
            parts.append(re.escape(segment))
    return _CompiledRoute(route, re.compile("^" + "".join(parts) + "$"))


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class Gateway:
    """The HTTP server plus the event building and result mapping, testable without sockets."""

    def __init__(
        self,
        routes: Sequence[Route],
        invoke: Invoke,
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        account_id: str = "123456789012",
        region: str = "us-east-1",
        access_log: Callable[[str], None] | None = None,
    ) -> None:
        # Specific paths before greedy ones, as API Gateway picks the most specific route.
        self.routes = sorted(
            (compile_route(r) for r in routes),
            key=lambda c: (
                c.route.path == "$default",
                "+}" in c.route.path,
                c.route.method == "ANY",
                -len(c.route.path),
            ),
        )
        self.invoke = invoke
        self.host = host
        self.port = port
        self.account_id = account_id
        self.region = region
        self.access_log = access_log
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- server ---------------------------------------------------------------------------
    def start(self) -> Gateway:
        self._server = _Server((self.host, self.port), _handler_class(self))
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="gateway", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- routing --------------------------------------------------------------------------
    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for compiled in self.routes:
            if compiled.route.method not in (method, "ANY"):
                continue
            found = compiled.pattern.match(path)
            if found:
                return compiled.route, {k: unquote(v) for k, v in found.groupdict().items()}
        return None

    def handle(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        *,
        source_ip: str = "127.0.0.1",
        protocol: str = "HTTP/1.1",
    ) -> Response:
        """One request in, one response out: route, build the event, invoke, map the result."""
        started = time.monotonic()
        request_id = _request_id()
        split = urlsplit(target)
        matched = self.match(method, split.path)
        if matched is None:
            response = _json_response(404, {"message": "Not Found"}, request_id)
            route_key = f"{method} (no route)"
        else:
            route, params = matched
            route_key = route.route_key
            event = self.build_event(
                route,
                params,
                method,
                split.path,
                split.query,
                headers,
                body,
                request_id=request_id,
                source_ip=source_ip,
                protocol=protocol,
            )
            try:
                result = self.invoke(route.function, event)
                response = map_result(result, request_id)
            except FunctionError:
                response = _json_response(500, {"message": "Internal Server Error"}, request_id)
        if self.access_log:
            # The route key, never the raw path: paths carry the webhook secret and phone numbers.
            took = (time.monotonic() - started) * 1000
            self.access_log(f"{route_key} -> {response.status} ({took:.0f} ms)")
        return response

    def build_event(
        self,
        route: Route,
        path_params: dict[str, str],
        method: str,
        raw_path: str,
        raw_query: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        *,
        request_id: str,
        source_ip: str = "127.0.0.1",
        protocol: str = "HTTP/1.1",
    ) -> dict[str, Any]:
        """The payload 2.0 event, as API Gateway (and `sam local generate-event`) shape it."""
        merged: dict[str, str] = {}
        cookies: list[str] = []
        for name, value in headers:
            key = name.lower()
            if key == "cookie":
                cookies.extend(c.strip() for c in value.split(";") if c.strip())
                continue
            merged[key] = f"{merged[key]},{value}" if key in merged else value
        host = merged.get("host", f"{self.host}:{self.port}")
        domain = host.split(":", 1)[0]
        merged.setdefault("x-forwarded-for", source_ip)
        merged.setdefault("x-forwarded-proto", "http")
        merged.setdefault("x-forwarded-port", str(self.port))
        merged.setdefault("content-length", str(len(body)))

        query: dict[str, str] = {}
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            query[key] = f"{query[key]},{value}" if key in query else value

        now = datetime.now(UTC)
        context: dict[str, Any] = {
            "accountId": self.account_id,
            "apiId": LOCAL_API_ID,
            "domainName": domain,
            "domainPrefix": domain.split(".", 1)[0],
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": protocol,
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": route.route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        }
        if route.iam_auth:
            context["authorizer"] = {
                "iam": {
                    **LOCAL_CALLER,
                    "accountId": self.account_id,
                    "userArn": f"arn:aws:iam::{self.account_id}:user/local-developer",
                }
            }
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.route_key,
            "rawPath": raw_path,
            "rawQueryString": raw_query,
            "headers": merged,
            "requestContext": context,
            "isBase64Encoded": False,
        }
        if cookies:
            event["cookies"] = cookies
        if query:
            event["queryStringParameters"] = query
        if path_params:
            event["pathParameters"] = path_params
        if body:
            try:
                event["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(body).decode()
                event["isBase64Encoded"] = True
        return event


def map_result(result: Any, request_id: str) -> Response:
    """API Gateway's 2.0 rules: a dict with statusCode is a response; anything else is JSON."""
    if isinstance(result, dict) and "statusCode" in result:
        try:
            status = int(result["statusCode"])
        except (TypeError, ValueError):
            return _json_response(500, {"message": "Internal Server Error"}, request_id)
        headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers.extend((str(name), str(v)) for v in values)
        headers.extend(("Set-Cookie", str(c)) for c in result.get("cookies") or [])
        raw = result.get("body")
        if raw is None:
            body = b""
        elif result.get("isBase64Encoded"):
            body = base64.b64decode(str(raw))
        else:
            body = (raw if isinstance(raw, str) else json.dumps(raw)).encode()
        if not any(k.lower() == "content-type" for k, _ in headers):
            headers.append(("Content-Type", "application/json"))
        headers.append(("apigw-requestid", request_id))
        return Response(status, headers, body)
    body = (result if isinstance(result, str) else json.dumps(result)).encode()
    return Response(
        200, [("Content-Type", "application/json"), ("apigw-requestid", request_id)], body
    )


def _json_response(status: int, payload: Any, request_id: str) -> Response:
    return Response(
        status,
        [("Content-Type", "application/json"), ("apigw-requestid", request_id)],
        json.dumps(payload).encode(),
    )


def _request_id() -> str:
    # API Gateway's ids look like "JKJaXmPLvHcESHA="; any unique token serves locally.
    return base64.b64encode(uuid.uuid4().bytes[:10]).decode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver listens with a backlog of 5: a burst of webhooks (1MSG posts in parallel)
    # then meets connection resets that API Gateway never gives. Queue them instead.
    request_queue_size = 128


def _handler_class(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "devstack-gateway"

        def log_message(self, format: str, *args: Any) -> None:
            """The gateway writes its own access log (route keys only, see `Gateway.handle`)."""

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            response = gateway.handle(
                self.command,
                self.path,
                list(self.headers.items()),
                body,
                source_ip=self.client_address[0],
                protocol=self.request_version,
            )
            try:
                self.send_response(response.status)
                for name, value in response.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(response.body)
            except (BrokenPipeError, ConnectionResetError):
                # The caller gave up waiting (e.g. 1MSG's webhook timeout); the function ran.
                self.close_connection = True
                log.info("gateway: the client left before the %d answer", response.status)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

    return Handler
