"""Prometheus metrics (prometheus_client): the gateway's, served on `ftui proxy`'s /metrics, and
the training worker's, served by `ftui worker --metrics-port`.

Each gateway and each worker has its own CollectorRegistry (never the process-wide one), so two
in one process (tests, the TUI) do not collide. Label values are bounded: a user id is never a
label (a personal slot `user:<id>` shows as `user`), and a label that takes values from requests
(model, domain slot) keeps its first `MAX_LABEL_VALUES` values and calls the rest `other`.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, Summary
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.process_collector import ProcessCollector

from ftui import REASONING_MODES

MAX_LABEL_VALUES = 50
NONE = "none"
REQUEST_LABELS = ("model", "mode", "slot", "arm")
# seconds: a whole reply may stream for minutes; the first token comes in well under a second
# from a loaded model, seconds from one Ollama has to load first
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
FIRST_TOKEN_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
FEEDBACK_MEMORY = 20_000  # reply ids remembered for the labels of a later rating
log = logging.getLogger("ftui.metrics")


class Bounded:
    """One label's values: the first `limit` seen are kept as they are, later new ones are
    `other`, so a client sending random model names cannot grow the series without end."""

    def __init__(self, limit: int = MAX_LABEL_VALUES) -> None:
        self.limit, self.seen, self.lock = limit, set(), threading.Lock()

    def __call__(self, value: str | None) -> str:
        value = value or NONE
        with self.lock:
            if value in self.seen:
                return value
            if len(self.seen) < self.limit:
                self.seen.add(value)
                return value
        return "other"


def slot_label(slot: str | None, bounded: Bounded) -> str:
    """A personal user slot is `user` (user ids are never labels); teams come from the config
    file and modes are fixed, other slots are bounded."""
    if not slot:
        return NONE
    if slot.startswith("user:"):
        return "user"
    return slot if slot in REASONING_MODES else bounded(slot)


def exposition(registry: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """(body, content type) in the format the scraper asked for (text or OpenMetrics)."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


class GatewayMetrics:
    def __init__(self, writer=None, unlogged=None) -> None:
        self.registry = r = CollectorRegistry()
        ProcessCollector(registry=r)
        self.models, self.slots = Bounded(), Bounded()
        self.requests = Counter("ftui_gateway_requests", "chat requests answered, by outcome",
                                [*REQUEST_LABELS, "status"], registry=r)
        self.duration = Histogram("ftui_gateway_request_duration_seconds",
                                  "chat request to the end of its reply",
                                  [*REQUEST_LABELS, "status"], buckets=DURATION_BUCKETS,
                                  registry=r)
        self.first_token = Histogram("ftui_gateway_time_to_first_token_seconds",
                                     "chat request to the first bytes of the model's reply",
                                     REQUEST_LABELS, buckets=FIRST_TOKEN_BUCKETS, registry=r)
        self.tokens = Counter("ftui_gateway_tokens", "tokens in prompts (in) and replies (out), "
                              "as the model server counted them", [*REQUEST_LABELS, "direction"],
                              registry=r)
        self.fallbacks = Counter("ftui_gateway_fallbacks", "replies served by the fallback "
                                 "model, by the model that failed and why",
                                 ["model", "slot", "reason"], registry=r)
        self.cut_off = Counter("ftui_gateway_cut_off_replies", "replies that did not end: the "
                               "client left or the model server broke off", ["by"], registry=r)
        self.feedback = Summary("ftui_gateway_feedback_rating", "ratings posted to "
                                "/ftui/feedback (count, and sum for the mean)",
                                ["model", "slot", "arm"], registry=r)
        self._labels: OrderedDict[str, tuple[str, str, str]] = OrderedDict()
        self._series: dict[tuple, tuple] = {}
        if writer is not None:
            r.register(_WriterCollector(writer, unlogged or (lambda: 0)))

    def labels(self, model: str | None, mode: str | None, slot: str | None,
               arm: str | None) -> dict[str, str]:
        return {"model": self.models(model), "mode": mode if mode in REASONING_MODES else NONE,
                "slot": slot_label(slot, self.slots), "arm": arm or NONE}

    def _series_of(self, key: tuple, make) -> tuple:
        """A request's labelled series, made once (label values are bounded, so is this):
        `labels()` takes a lock and builds a key on every call."""
        found = self._series.get(key)
        if found is None:
            found = self._series[key] = make()
        return found

    def request(self, labels: dict[str, str], status: int, seconds: float,
                first_token_s: float | None = None, tokens_in: int | None = None,
                tokens_out: int | None = None, uid: str | None = None) -> None:
        values = tuple(labels.values())
        done = {**labels, "status": str(status)}
        count, duration = self._series_of((*values, status), lambda: (
            self.requests.labels(**done), self.duration.labels(**done)))
        count.inc()
        duration.observe(seconds)
        if first_token_s is not None:  # a reply: its series are made on the first one
            first, t_in, t_out = self._series_of(values, lambda: (
                self.first_token.labels(**labels), self.tokens.labels(**labels, direction="in"),
                self.tokens.labels(**labels, direction="out")))
            first.observe(first_token_s)
            if tokens_in and tokens_in > 0:
                t_in.inc(tokens_in)
            if tokens_out and tokens_out > 0:
                t_out.inc(tokens_out)
        if uid:  # a later rating of this reply is counted under the same labels
            self._labels[uid] = (labels["model"], labels["slot"], labels["arm"])
            while len(self._labels) > FEEDBACK_MEMORY:
                self._labels.popitem(last=False)

    def fallback(self, model: str, slot: str | None, reason: str) -> None:
        self.fallbacks.labels(model=self.models(model), slot=slot_label(slot, self.slots),
                              reason=reason).inc()

    def rated(self, uid: str, rating: int) -> None:
        model, slot, arm = self._labels.get(uid, ("unknown", "unknown", "unknown"))
        self.feedback.labels(model=model, slot=slot, arm=arm).observe(rating)


class _WriterCollector:
    """The log writer's queue and health, read at scrape time."""

    def __init__(self, writer, unlogged) -> None:
        self.writer, self.unlogged = writer, unlogged

    def collect(self):
        state = self.writer.state()
        yield GaugeMetricFamily("ftui_gateway_log_queue_depth", "interactions waiting to be "
                                "written to the store", value=state["queued"])
        yield GaugeMetricFamily("ftui_gateway_log_writer_up", "1 while the log writer thread "
                                "runs", value=1 if state["alive"] else 0)
        records = CounterMetricFamily("ftui_gateway_log_records", "what the log writer did "
                                      "with each record", labels=["outcome"])
        for outcome, key in (("written", "written"), ("sanitized", "sanitized"),
                             ("dropped", "dropped"), ("empty_reply", "empty_replies")):
            records.add_metric([outcome], state[key])
        yield records
        yield CounterMetricFamily("ftui_gateway_log_retries", "store writes retried (busy "
                                  "store)", value=state["retries"])
        yield CounterMetricFamily("ftui_gateway_unlogged_requests", "chat requests forwarded "
                                  "but not logged (a body the gateway cannot read)",
                                  value=self.unlogged())
        errors = GaugeMetricFamily("ftui_gateway_log_writer_last_error_timestamp_seconds",
                                   "when the log writer last failed (absent: never)")
        if state.get("last_error_at"):
            from datetime import datetime

            errors.add_metric([], datetime.fromisoformat(state["last_error_at"]).timestamp())
        yield errors


# ---------------------------------------------------------------- the training worker


class WorkerCollector:
    """Progress of the runs this worker process is running (step, loss, tokens/s), read from
    the store at scrape time, and the GPUs' utilisation and memory (ftui.telemetry)."""

    def __init__(self, store, worker: str | None = None) -> None:
        self.store, self.worker = store, worker

    def _runs(self) -> list[Any]:
        from sqlmodel import select

        from ftui.store import TrainingRun
        from ftui.train.runs import ACTIVE, worker_name

        with self.store.session() as s:
            return list(s.exec(select(TrainingRun).where(
                TrainingRun.worker == (self.worker or worker_name()),
                TrainingRun.status.in_(ACTIVE))))

    def _last(self, run_id: int, name: str) -> float | None:
        from sqlmodel import col, select

        from ftui.store import RunMetric

        with self.store.session() as s:
            row = s.exec(select(RunMetric.value).where(
                RunMetric.run_id == run_id, RunMetric.name == name).order_by(
                col(RunMetric.step).desc(), col(RunMetric.id).desc()).limit(1)).first()
        return row

    def collect(self):
        runs = self._runs()
        yield GaugeMetricFamily("ftui_worker_busy", "1 while this worker runs a training run",
                                value=1 if runs else 0)
        families = {name: GaugeMetricFamily(f"ftui_train_{name}", text, labels=["run"])
                    for name, text in (
                        ("step", "optimizer steps done"), ("total_steps", "steps planned"),
                        ("epoch", "epochs done (fractional)"),
                        ("loss", "the last logged training loss"),
                        ("eval_loss", "the last validation loss"),
                        ("tokens_per_second", "training tokens per second over the run"),
                        ("trained_tokens", "tokens trained on so far"),
                        ("paused", "1 while the run is paused"))}
        for run in runs:
            summary = run.summary
            values = {"step": run.step, "total_steps": run.total_steps, "epoch": run.epoch,
                      "loss": self._last(run.id, "train_loss"),
                      "eval_loss": self._last(run.id, "eval_loss"),
                      "tokens_per_second": summary.get("tokens_per_second"),
                      "trained_tokens": run.train_tokens,
                      "paused": 1 if run.status == "paused" else 0}
            for name, value in values.items():
                if value is not None:
                    families[name].add_metric([str(run.id)], float(value))
        yield from families.values()
        yield from _gpu_families()


def _gpu_families():
    from ftui.telemetry import gpu_stats

    util = GaugeMetricFamily("ftui_gpu_utilization_ratio", "GPU busy share over NVML's last "
                             "sample period (0-1)", labels=["gpu", "name"])
    used = GaugeMetricFamily("ftui_gpu_memory_used_bytes", "GPU memory in use (all processes)",
                             labels=["gpu", "name"])
    total = GaugeMetricFamily("ftui_gpu_memory_total_bytes", "GPU memory", labels=["gpu", "name"])
    mine = GaugeMetricFamily("ftui_gpu_process_memory_bytes", "GPU memory this worker uses",
                             labels=["gpu", "name"])
    try:
        gpus = gpu_stats()
    except Exception:  # noqa: BLE001 - a driver hiccup must not fail the whole scrape
        log.warning("no GPU figures in this scrape", exc_info=True)
        gpus = []
    for gpu in gpus:
        key = [str(gpu.index), gpu.name]
        for family, value, scale in ((util, gpu.util_pct, 0.01), (used, gpu.mem_used_mb, 2**20),
                                     (total, gpu.mem_total_mb, 2**20),
                                     (mine, gpu.this_process_mb, 2**20)):
            if value is not None:  # a figure NVML does not give on this card stays absent
                family.add_metric(key, value * scale)
    yield from (util, used, total, mine)


def worker_registry(store, worker: str | None = None) -> CollectorRegistry:
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    registry.register(WorkerCollector(store, worker))
    return registry


def serve_worker_metrics(store, listen: str, worker: str | None = None):
    """Serve the worker's metrics on HOST:PORT (PORT alone: 127.0.0.1) in a thread; returns
    (server, thread): server.shutdown() stops it, server.server_port is the port bound."""
    from prometheus_client import start_http_server

    from ftui.ab.gateway import parse_listen
    from ftui.errors import FtuiError

    host, port = parse_listen(listen, option="--metrics-port")
    try:
        return start_http_server(port, host, registry=worker_registry(store, worker))
    except OSError as err:
        raise FtuiError(f"cannot serve metrics on {host}:{port}: {err.strerror or err}",
                        "pick another port (--metrics-port 9101), or stop what uses it") from None
