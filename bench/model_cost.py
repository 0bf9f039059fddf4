"""What `SubjectExtractor=bedrock` adds to the cost of 1,000 conversations, at list price.

One Converse call per request. Its tokens are estimated from what the sender really sends:
the instructions built with the example catalogue (`ops/catalogue.example.json`) and the
default languages, a long message (200 characters: the kind with its context first that the
model is for; the labelled requests average about 50), and an answer with a subject of the
full 40 characters, at a cautious 3 characters a token (English runs about 4). The sender's
Lambda time while it waits for the answer is added at a typical latency (an assumption: this
machine cannot call Bedrock). The figures are the README's arithmetic; they are informational
and not part of the rules-mode total.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from session_reply.domain.catalogue import parse_catalogue
from session_reply.domain.subject import MAX_CHARS
from session_reply.domain.subject_model import instructions
from session_reply.settings import Settings

from bench.table import Row

ROOT = Path(__file__).resolve().parents[1]
CONVERSATIONS = 1_000
CHARS_PER_TOKEN = 3
MESSAGE_CHARS = 200
MODEL_WAIT_S = 0.5  # a typical Nova Micro answer of ~30 tokens; the budget is 1.5 s
SENDER_GB = 256 / 1024  # the template's MemorySize
LAMBDA_ARM_GB_S = 0.0000133334
# us-east-1 on-demand list prices, per million tokens (input, output).
PRICES = {
    "amazon.nova-micro-v1:0": ("Nova Micro", 0.035, 0.14),
    "anthropic.claude-3-haiku-20240307-v1:0": ("Claude 3 Haiku", 0.25, 1.25),
}


@dataclass(frozen=True)
class ModelCost:
    model: str
    input_tokens: int
    output_tokens: int
    tokens_usd: float
    wait_usd: float

    @property
    def total(self) -> float:
        return self.tokens_usd + self.wait_usd


def tokens(chars: float) -> int:
    return math.ceil(chars / CHARS_PER_TOKEN)


def estimate(model_id: str) -> ModelCost:
    example = json.loads((ROOT / "ops" / "catalogue.example.json").read_text(encoding="utf-8"))
    settings = Settings()
    prompt = instructions(
        parse_catalogue(example["entries"]), settings.language_list, settings.default_language
    )
    answer = json.dumps({"subject": "x" * MAX_CHARS, "language": "en", "entry": None})
    name, input_price, output_price = PRICES[model_id]
    inputs = tokens(len(prompt)) + tokens(MESSAGE_CHARS)
    outputs = tokens(len(answer))
    per_request = (inputs * input_price + outputs * output_price) / 1e6
    wait = MODEL_WAIT_S * SENDER_GB * LAMBDA_ARM_GB_S
    return ModelCost(name, inputs, outputs, CONVERSATIONS * per_request, CONVERSATIONS * wait)


def model_cost_rows() -> list[Row]:
    rows = []
    for model_id in PRICES:
        cost = estimate(model_id)
        _, input_price, output_price = PRICES[model_id]
        rows.append(
            Row(
                section="5 cost",
                measure=f"SubjectExtractor=bedrock adds, {cost.model} ({model_id})",
                bundle=f"${cost.total:.4f}",
                notes=f"{CONVERSATIONS:,} x ({cost.input_tokens} in x ${input_price}/M + "
                f"{cost.output_tokens} out x ${output_price}/M) = ${cost.tokens_usd:.4f}, + "
                f"${cost.wait_usd:.4f} of the sender waiting {MODEL_WAIT_S} s; not in the total",
            )
        )
    return rows
