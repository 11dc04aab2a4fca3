"""Prometheus metrics: the metric objects, thin helpers for the code that knows, and `/metrics`.

Counters are incremented where the event happens (the webhook, the jobs, the model router, the
status callback); the queue depth and the spool are read when Prometheus scrapes. Under gunicorn
`healthbot serve` sets PROMETHEUS_MULTIPROC_DIR, so every worker writes its samples to files
there and a scrape of any worker sums them all (prometheus-client's multiprocess mode).

Who may scrape: loopback and the addresses in HEALTHBOT_METRICS_ALLOW when the request came
straight from them (no X-Forwarded-For: behind a proxy on the same host every request would look
local), and anyone else only with a staff API token (`Authorization: Bearer hbt_…`).
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from bot.ports import CallRecord
    from bot.services import Services

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LEVELS = frozenset({"info", "self_care", "routine", "urgent", "emergency"})
OUTCOMES = frozenset({"ok", "timeout", "rate_limited", "unavailable", "refused", "bad_response",
                      "error"})
STATUSES = frozenset({"accepted", "queued", "sending", "sent", "delivered", "read", "failed",
                      "undelivered", "canceled", "scheduled", "receiving", "received"})
# Proxies add these; a request carrying one is never trusted for its (proxy's) address.
FORWARD_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")

INBOUND = Counter("healthbot_inbound_messages_total",
                  "Signed, well-formed inbound WhatsApp messages the webhook accepted")
REPLIES = Counter("healthbot_replies_total",
                  "Messages answered (in the TwiML or by a job), by final triage level", ["level"])
EMERGENCIES = Counter("healthbot_emergencies_total", "Messages answered as emergencies")
MODEL_CALLS = Counter("healthbot_model_calls_total",
                      "Model calls through the router, by provider and outcome",
                      ["provider", "outcome"])
MODEL_FAILURES = Counter("healthbot_model_call_failures_total",
                         "Model calls that failed (timeout, rate limit, error...), by provider",
                         ["provider"])
MODEL_LATENCY = Histogram("healthbot_model_call_seconds", "Model call latency, by provider",
                          ["provider"],
                          buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, float("inf")))
DELIVERY = Counter("healthbot_delivery_status_total",
                   "Twilio status callbacks for messages we sent, by status", ["status"])
SPOOLED = Counter("healthbot_spooled_messages_total",
                  "Inbound messages kept on disk because the database could not take them")
PERIODIC_OWNER = Gauge("healthbot_periodic_owner",
                       "1 in the process that runs the periodic work (alert retries)",
                       multiprocess_mode="livesum")


def _level(value: str | None) -> str:
    return value if value in LEVELS else "none"


def observe_reply(reply: Any) -> None:
    """Count an answered message by its level (duplicates are not answers)."""
    if getattr(reply, "duplicate", False):
        return
    level = _level(getattr(reply, "level", None))
    REPLIES.labels(level=level).inc()
    if level == "emergency":
        EMERGENCIES.inc()


def observe_received(received: Any) -> None:
    """Count a reply the webhook gave at once; one left to the model is counted by its job."""
    if getattr(received, "answer_id", None) is None:
        observe_reply(received.reply)


def observe_model_calls(calls: Iterable[CallRecord]) -> None:
    """Count each model call and its latency under its provider."""
    for call in calls:
        provider = (call.provider or "unknown")[:40]
        outcome = call.outcome if call.outcome in OUTCOMES else "error"
        MODEL_CALLS.labels(provider=provider, outcome=outcome).inc()
        if outcome != "ok":
            MODEL_FAILURES.labels(provider=provider).inc()
        MODEL_LATENCY.labels(provider=provider).observe(max(0.0, call.latency_ms) / 1000.0)


def observe_delivery_status(status: str) -> None:
    DELIVERY.labels(status=status if status in STATUSES else "other").inc()


# --- scraping ---------------------------------------------------------------------------------


def address_allowed(remote: str | None, headers: Any,
                    allow: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    """True for a direct request from loopback or an allowed network."""
    if not remote or any(headers.get(name) for name in FORWARD_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    if address.is_loopback:
        return True
    return any(address in network for network in allow)


def bearer_token(headers: Any) -> str:
    header = str(headers.get("Authorization", "") or "")
    return header[7:].strip() if header[:7].lower() == "bearer " else ""


class _LiveCollector:
    """What is read at scrape time: the job queue's depth and the spool's size."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("healthbot_queue_depth", "Jobs in the queue, by state",
                                  labels=["state"])
        reader: Callable[[], dict[str, int]] | None = getattr(self.services.tasks, "depth", None)
        try:
            for state, count in (reader() if reader else {}).items():
                depth.add_metric([state], count)
        except Exception as exc:  # the queue being down must not break the scrape
            log.warning("could not read the queue depth: %s", type(exc).__name__)
        yield depth
        folder = Path(self.services.settings.instance_dir) / "spool"
        waiting = sum(1 for _ in folder.glob("*.json")) if folder.is_dir() else 0
        yield GaugeMetricFamily("healthbot_spool_waiting",
                                "Spooled messages waiting for `healthbot db replay-spool`",
                                value=waiting)


def render(services: Services) -> tuple[bytes, str]:
    """The exposition text: every process's samples (multiprocess mode) plus the live gauges."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    live = CollectorRegistry(auto_describe=False)
    live.register(_LiveCollector(services))
    return generate_latest(registry) + generate_latest(live), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """Drop a dead worker's live gauges (gunicorn's child_exit hook, multiprocess mode only)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
