"""Per-token prices (LiteLLM key names, one row per provider/model) and the cost of one call.

An unknown model costs None — never 0 and never a made-up default rate — so missing rows show up
in reports instead of hiding spend. Rows live in `prices.yaml`, each with `as_of` and `source`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from bot.ports import Usage

log = logging.getLogger(__name__)

PRICES_PATH = Path(__file__).with_name("prices.yaml")

# Provider model ids often carry a release date ("gpt-4o-mini-2024-07-18",
# "claude-3-5-haiku-20241022") or "-latest"; only those suffixes fall back to the undated row,
# because a general prefix match would price "o3-pro" as "o3" (10x too cheap).
_DATED_SUFFIX = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8}|latest)$")


@dataclass(frozen=True, slots=True)
class Price:
    """One price row, in USD per token."""

    input_cost_per_token: float
    output_cost_per_token: float
    as_of: str
    source: str
    cache_read_input_token_cost: float | None = None
    cache_creation_input_token_cost: float | None = None
    self_hosted: bool = False
    verify: bool = False


def _price_from(key: str, row: Mapping[str, Any]) -> Price:
    try:
        return Price(
            input_cost_per_token=float(row["input_cost_per_token"]),
            output_cost_per_token=float(row["output_cost_per_token"]),
            as_of=str(row["as_of"]),
            source=str(row["source"]),
            cache_read_input_token_cost=(
                None
                if row.get("cache_read_input_token_cost") is None
                else float(row["cache_read_input_token_cost"])
            ),
            cache_creation_input_token_cost=(
                None
                if row.get("cache_creation_input_token_cost") is None
                else float(row["cache_creation_input_token_cost"])
            ),
            self_hosted=bool(row.get("self_hosted", False)),
            verify=bool(row.get("verify", False)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"price row {key!r} is incomplete or malformed: {exc}") from exc


class PriceTable:
    """Prices keyed "provider/model", with "provider/*" rows for self-hosted providers."""

    def __init__(self, rows: Mapping[str, Price]) -> None:
        self._rows = {key.lower(): price for key, price in rows.items()}
        self._warned: set[str] = set()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Mapping[str, Any]]) -> PriceTable:
        """Build a table from the parsed YAML/JSON mapping (raises ValueError on a bad row)."""
        return cls({key: _price_from(key, row) for key, row in data.items()})

    @classmethod
    def from_yaml(cls, path: Path = PRICES_PATH) -> PriceTable:
        """Load a table from a YAML file shaped like `prices.yaml`."""
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of provider/model to prices")
        return cls.from_mapping(data)

    def get(self, provider: str, model: str) -> Price | None:
        """Return the row for provider/model (exact, undated, then wildcard), or None."""
        provider, model = provider.lower(), model.lower()
        candidates = [f"{provider}/{model}"]
        undated = _DATED_SUFFIX.sub("", model)
        if undated != model:
            candidates.append(f"{provider}/{undated}")
        candidates.append(f"{provider}/*")
        for key in candidates:
            price = self._rows.get(key)
            if price is not None:
                return price
        return None

    def cost(
        self,
        provider: str,
        model: str,
        usage: Usage,
        *,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> float | None:
        """USD for one call, or None when the model or the token counts are unknown.

        `usage.input_tokens` counts every prompt token, including the cache reads and writes
        given separately here, which are billed at their own rates when the row has them.
        """
        price = self.get(provider, model)
        if price is None:
            key = f"{provider}/{model}"
            if key not in self._warned:
                self._warned.add(key)
                log.warning("no price for %s: its cost is recorded as unknown", key)
            return None
        if usage.input_tokens is None and usage.output_tokens is None:
            return None
        total_in = usage.input_tokens or 0
        read = min(cache_read_tokens, total_in)
        write = min(cache_write_tokens, total_in - read)
        plain = total_in - read - write
        # Without a cache rate, charge cached tokens at the plain input rate rather than guess one.
        read_rate = price.cache_read_input_token_cost
        write_rate = price.cache_creation_input_token_cost
        return (
            plain * price.input_cost_per_token
            + read * (price.input_cost_per_token if read_rate is None else read_rate)
            + write * (price.input_cost_per_token if write_rate is None else write_rate)
            + (usage.output_tokens or 0) * price.output_cost_per_token
        )


@cache
def default_table() -> PriceTable:
    """The table in bot/llm/prices.yaml (loaded once)."""
    return PriceTable.from_yaml(PRICES_PATH)


def cost_of(
    provider: str,
    model: str,
    usage: Usage,
    *,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
    table: PriceTable | None = None,
) -> float | None:
    """USD for one call from the price table (default: prices.yaml); None when unknown, never 0."""
    return (table or default_table()).cost(
        provider,
        model,
        usage,
        cache_read_tokens=cache_read_tokens,
        cache_write_tokens=cache_write_tokens,
    )
