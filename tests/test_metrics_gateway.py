"""`ftui proxy`'s /metrics after real traffic (real HTTP on 127.0.0.1, the stand-in Ollama),
read back with prometheus_client's own parsers (text and OpenMetrics)."""

from __future__ import annotations

import httpx
import pytest
from gateway_harness import RunningGateway
from ollama_standin import StandIn
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from ftui import registry
from ftui.ab import create_experiment, set_status
from ftui.metrics import MAX_LABEL_VALUES

USER = "u-7f3a9c"  # must never show up in the exposition
TEAMS = {USER: "platform", "u-b0b": "platform"}
REPLY = "four words of reply"  # the stand-in counts 4 tokens out, 12 in


def samples(text: str, parse=text_string_to_metric_families) -> dict[str, list]:
    """sample name -> [(labels, value)], from the parser's families."""
    out: dict[str, list] = {}
    for family in parse(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def value(found: dict, name: str, **labels) -> float:
    """The sum over samples of `name` whose labels include `labels` (0 when none)."""
    return sum(v for got, v in found.get(name, []) if labels.items() <= got.items())


def chat(model: str = "ftui:auto", stream: bool = True) -> dict:
    return {"model": model, "stream": stream,
            "messages": [{"role": "user", "content": "hello there"}]}


@pytest.fixture
def world(store):
    for name, slot in (("personal:1", f"user:{USER}"), ("teamwise:1", "team:platform"),
                       ("gone:1", "agent")):
        m = registry.register(store, kind="ollama", name=name.split(":")[0], ollama_name=name,
                              base_model="base:1")
        registry.set_stage(store, m.id, "production", slot)
    exp = create_experiment(store, name="e", alias="assistant", model_a="base:1",
                            model_b="teamwise:1", split_b=0.5, salt="s")
    set_status(store, exp.id, "running")
    models = {"personal:1": REPLY, "teamwise:1": REPLY, "base:1": REPLY}  # no gone:1
    with StandIn(models=models) as upstream, \
            RunningGateway(store, upstream.url, teams=TEAMS) as gw:
        yield gw


def test_gateway_metrics_after_real_traffic(world):
    gw = world
    send = lambda body, **h: httpx.post(gw.url + "/api/chat", json=body, headers=h,  # noqa: E731
                                        timeout=10)
    rated = []
    for _ in range(3):  # the user's own model, streamed
        rated.append(send(chat(), **{"X-FTUI-User": USER}))
    send(chat(stream=False), **{"X-FTUI-User": "u-b0b"})  # the team's model, one JSON object
    fell = send(chat("ftui:agent"))  # gone:1 is not in Ollama: its base answers
    assert fell.headers["X-FTUI-Fallback"] and fell.headers["X-FTUI-Slot"] == "agent"
    arm = send(chat("assistant"), **{"X-FTUI-User": USER}).headers["X-FTUI-Arm"]
    assert send(chat("ftui:user:x")).status_code == 404
    for i in range(MAX_LABEL_VALUES + 10):  # a client inventing model names
        assert send(chat(f"random-{i}:1")).status_code == 404
    for reply, rating in zip(rated[:2], (5, 2), strict=True):
        uid = reply.headers["X-FTUI-Interaction-Id"]
        assert httpx.post(gw.url + "/ftui/feedback", json={"interaction_id": uid,
                                                           "rating": rating}).is_success
    gw.drain()

    scraped = httpx.get(gw.url + "/metrics")
    assert scraped.status_code == 200 and scraped.headers["Content-Type"].startswith(
        "text/plain")
    assert USER not in scraped.text and "u-b0b" not in scraped.text  # no user ids as labels
    found = samples(scraped.text)

    requests = "ftui_gateway_requests_total"
    assert value(found, requests, model="personal:1", slot="user", arm="none", status="200",
                 mode="standard") == 3
    assert value(found, requests, model="teamwise:1", slot="team:platform", status="200") == 1
    assert value(found, requests, model="base:1", slot="agent", status="200") == 1
    assert value(found, requests, slot="none", arm=arm, status="200") == 1
    assert value(found, requests, model="ftui:user:x", status="404") == 1
    models = {labels["model"] for name in (requests, "ftui_gateway_fallbacks_total")
              for labels, _ in found[name]}
    assert len(models) == MAX_LABEL_VALUES + 1 and "other" in models  # bounded
    assert value(found, requests, model="other", status="404") > 0
    total = value(found, requests)
    assert total == 3 + 1 + 1 + 1 + 1 + MAX_LABEL_VALUES + 10

    # every request is in the duration histogram; only whole replies have a first token
    assert value(found, "ftui_gateway_request_duration_seconds_count") == total
    assert value(found, "ftui_gateway_request_duration_seconds_bucket", le="+Inf") == total
    first = value(found, "ftui_gateway_time_to_first_token_seconds_count")
    assert first == 6
    assert 0 < value(found, "ftui_gateway_time_to_first_token_seconds_sum") <= value(
        found, "ftui_gateway_request_duration_seconds_sum")
    # tokens as the model server counted them (12 in, 4 out each), streamed or not
    assert value(found, "ftui_gateway_tokens_total", direction="in") == 6 * 12
    assert value(found, "ftui_gateway_tokens_total", direction="out") == 6 * 4
    assert value(found, "ftui_gateway_tokens_total", slot="team:platform", direction="out") == 4
    assert value(found, "ftui_gateway_fallbacks_total", model="gone:1", slot="agent",
                 reason="error_status") == 1
    # feedback: count and sum (mean = sum / count), under the rated replies' labels
    assert value(found, "ftui_gateway_feedback_rating_count", model="personal:1",
                 slot="user") == 2
    assert value(found, "ftui_gateway_feedback_rating_sum", model="personal:1") == 7
    # the log writer: empty queue, alive, every answered chat written
    assert value(found, "ftui_gateway_log_queue_depth") == 0
    assert value(found, "ftui_gateway_log_writer_up") == 1
    assert value(found, "ftui_gateway_log_records_total", outcome="written") == 6
    assert "ftui_gateway_log_writer_last_error_timestamp_seconds" not in found  # never failed
    assert value(found, "process_resident_memory_bytes") > 0


def test_openmetrics_on_request_and_the_token_guards_metrics(store):
    with StandIn() as upstream, RunningGateway(store, upstream.url, token="s3cret") as gw:
        assert httpx.get(gw.url + "/metrics").status_code == 401
        auth = {"Authorization": "Bearer s3cret"}
        httpx.post(gw.url + "/api/chat", headers=auth, timeout=10, json={
            "model": "llama3.2:3b", "messages": [{"role": "user", "content": "hi"}]})
        scraped = httpx.get(gw.url + "/metrics", headers={
            **auth, "Accept": "application/openmetrics-text; version=1.0.0"})
    assert scraped.headers["Content-Type"].startswith("application/openmetrics-text")
    assert scraped.text.endswith("# EOF\n")
    found = samples(scraped.text, openmetrics_families)
    assert value(found, "ftui_gateway_requests_total", model="llama3.2:3b", status="200") == 1


def test_two_gateways_in_one_process_count_apart(store):
    with StandIn() as upstream, RunningGateway(store, upstream.url) as one, \
            RunningGateway(store, upstream.url) as two:
        httpx.post(one.url + "/api/chat", timeout=10, json={
            "model": "llama3.2:3b", "messages": [{"role": "user", "content": "hi"}]})
        counts = [value(samples(httpx.get(g.url + "/metrics").text),
                        "ftui_gateway_requests_total") for g in (one, two)]
    assert counts == [1, 0]
