"""What a judge run would send, without sending anything: requests, estimated tokens, estimated cost.

Token estimate (documented, deterministic, no tokenizer needed): input tokens per request are
``ceil(characters / 4)`` summed over the messages plus 4 per message (role and separators); output tokens are
counted at ``max_tokens`` per request (an upper bound; answers are usually shorter). English text averages about
4 characters per token with OpenAI tokenizers, so the estimate is rough (typically within +-25 %).

Cost: only for hosted OpenAI / Azure OpenAI models in :data:`PRICES_USD_PER_M` (list prices per million tokens
as published by OpenAI, checked on :data:`PRICES_DATE`; they change, so treat the figure as an estimate). A
model on a loopback or private-network server is taken to cost nothing per token.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

PRICES_DATE = "2025-04-15"
# model name (or prefix of a dated snapshot name) -> (input, output) USD per 1M tokens
PRICES_USD_PER_M: dict[str, tuple[float, float]] = {
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4-1106-preview": (10.00, 30.00),
    "gpt-4": (30.00, 60.00),
    "gpt-4-32k": (60.00, 120.00),
    "gpt-3.5-turbo": (0.50, 1.50),
}
CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4


def estimate_tokens(messages: Sequence[dict[str, str]]) -> int:
    """Estimated input tokens of one request (see the module docstring)."""
    return sum(math.ceil(len(m.get("content") or "") / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE for m in messages)


def price_of(model: str) -> tuple[float, float] | None:
    """(input, output) USD per 1M tokens for a known OpenAI model name or dated snapshot, else None."""
    name = model.lower().strip()
    if name in PRICES_USD_PER_M:
        return PRICES_USD_PER_M[name]
    best = max((k for k in PRICES_USD_PER_M if name.startswith(k + "-")), key=len, default=None)
    return PRICES_USD_PER_M[best] if best else None


@dataclass(frozen=True)
class JudgePlan:
    """What a judge metric would do on these inputs."""

    metric: str
    backend: str
    model: str
    host: str
    pairs: int
    unique_pairs: int
    cached: int
    requests: int
    input_tokens: int
    output_tokens: int
    max_requests: int
    cost_usd: float | None
    refusal: str | None = None


def make_plan(*, metric: str, backend: str, model: str, host: str, host_private: bool, pairs: int,
              cached: int, to_send: Sequence[Sequence[dict[str, str]]], max_tokens: int, parse_retries: int,
              refusal: str | None = None) -> JudgePlan:
    """A pure summary of the requests ``to_send`` (one message list per request not answered by the cache)."""
    input_tokens = sum(estimate_tokens(m) for m in to_send)
    output_tokens = max_tokens * len(to_send)
    price = None if host_private else price_of(model)
    cost = None
    if price is not None:
        cost = (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000
    return JudgePlan(metric=metric, backend=backend, model=model, host=host, pairs=pairs,
                     unique_pairs=cached + len(to_send), cached=cached, requests=len(to_send),
                     input_tokens=input_tokens, output_tokens=output_tokens,
                     max_requests=len(to_send) * (1 + parse_retries), cost_usd=cost, refusal=refusal)


def render_plan(plan: JudgePlan) -> str:
    """The dry-run report for one metric, as printed by ``rrg-eval score --dry-run``."""
    lines = [
        f"{plan.metric}: dry run, nothing sent",
        f"  judge: {plan.backend} model {plan.model} at {plan.host}",
        f"  pairs: {plan.pairs} ({plan.unique_pairs} distinct), answered by the cache: {plan.cached}",
        f"  requests to send: {plan.requests} (up to {plan.max_requests} if every answer needs its parse retries)",
        f"  estimated tokens: {plan.input_tokens:,} input + up to {plan.output_tokens:,} output "
        f"(characters/4 + 4 per message; output at max_tokens)",
    ]
    if plan.cost_usd is not None:
        lines.append(f"  estimated cost: ${plan.cost_usd:,.2f} at OpenAI list prices of {PRICES_DATE} "
                     "(output at max_tokens, so an upper bound)")
    else:
        lines.append("  estimated cost: not estimated (model not in the price table, or a local server)")
    if plan.refusal:
        lines.append(f"  note: a real run would be refused: {plan.refusal}")
    return "\n".join(lines) + "\n"
