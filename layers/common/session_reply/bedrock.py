"""Amazon Bedrock's Converse API: the model that may name a request's subject
(`SubjectExtractor=bedrock`). Nothing here runs in rules mode: the flows reach this module
through `Context.subject_model`, which exists only in bedrock mode; the client is built on
first use, which the sender makes while a new container's first record waits out the burst
(`prepare_send`).

One call ends within `MODEL_BUDGET_SECONDS` (1.5 s): a 0.3 s connect timeout (the TCP
connection and its TLS handshake; a warm container reuses its connection) and a 1.2 s read
timeout, with no retry, since a second try could not fit. What goes wrong is one
`ModelUnavailableError` with a short reason, and the caller answers with the rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    ReadTimeoutError,
)

from session_reply.errors import SessionReplyError
from session_reply.settings import MODEL_BUDGET_SECONDS

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient

CONNECT_SECONDS = 0.3
READ_SECONDS = MODEL_BUDGET_SECONDS - CONNECT_SECONDS
TIMEOUT, THROTTLED, ERROR = "timeout", "throttled", "error"


class ModelUnavailableError(SessionReplyError):
    """No answer from the model; `reason` is a metric dimension: timeout | throttled | error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ModelReply:
    text: str
    input_tokens: int
    output_tokens: int


@lru_cache(maxsize=1)
def bedrock_client() -> BedrockRuntimeClient:
    config = Config(
        connect_timeout=CONNECT_SECONDS,
        read_timeout=READ_SECONDS,
        retries={"mode": "standard", "total_max_attempts": 1},
    )
    return boto3.client("bedrock-runtime", config=config)


class BedrockModel:
    """One model id; `client` defaults to the container's bedrock-runtime client."""

    def __init__(self, model_id: str, client: BedrockRuntimeClient | None = None) -> None:
        self.model_id = model_id
        self._client = client

    @property
    def client(self) -> BedrockRuntimeClient:
        if self._client is None:
            self._client = bedrock_client()
        return self._client

    def converse(self, instructions: str, text: str, max_tokens: int) -> ModelReply:
        """The model's text answer to `text` under the system `instructions`."""
        try:
            response = self.client.converse(
                modelId=self.model_id,
                system=[{"text": instructions}],
                messages=[{"role": "user", "content": [{"text": text}]}],
                inferenceConfig={"maxTokens": max_tokens, "temperature": 0.0},
            )
        except (ConnectTimeoutError, ReadTimeoutError) as exc:
            raise ModelUnavailableError(TIMEOUT) from exc
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise ModelUnavailableError(
                THROTTLED if code == "ThrottlingException" else ERROR
            ) from exc
        except BotoCoreError as exc:  # no connection, no credentials, an unreadable response
            raise ModelUnavailableError(ERROR) from exc
        blocks = response.get("output", {}).get("message", {}).get("content", [])
        usage = response.get("usage", {})
        return ModelReply(
            "".join(block.get("text", "") for block in blocks),
            int(usage.get("inputTokens", 0)),
            int(usage.get("outputTokens", 0)),
        )
