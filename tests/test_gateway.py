"""The gateway (`ftui proxy`) between real clients (the `ollama` client, plain HTTP in OpenAI
style) and the stand-in Ollama upstream, all over real HTTP on 127.0.0.1."""

from __future__ import annotations

import socket

import httpx
import ollama
import pytest
from gateway_harness import RunningGateway
from ollama_standin import StandIn

from ftui import registry
from ftui.ab import assign, create_experiment, set_split, set_status
from ftui.ab.experiments import arm_for
from ftui.ab.gateway import serve
from ftui.errors import FtuiError
from ftui.store import Interaction, Outcome

CHAT = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "Capital of France?"}]}


def rows(store, table):
    from sqlmodel import select

    with store.session() as s:
        return list(s.exec(select(table)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_streaming_is_byte_identical_and_the_exchange_is_logged(store):
    with StandIn() as upstream, RunningGateway(store, upstream.url) as gw:
        direct = httpx.post(upstream.url + "/api/chat", json=CHAT).content
        via = httpx.post(gw.url + "/api/chat", json=CHAT, headers={"X-FTUI-User": "u1",
                                                                   "X-FTUI-Mode": "standard"})
        assert via.content == direct and via.status_code == 200
        uid = via.headers["X-FTUI-Interaction-Id"]
        reply = ollama.Client(host=gw.url).chat(model="llama3.2:3b", messages=CHAT["messages"])
        assert reply.message.content == "Paris is the capital of France."
        gw.drain()
    logged = {r.uid: r for r in rows(store, Interaction)}
    assert len(logged) == 2
    first = logged[uid]
    assert first.source == "gateway" and first.user_id == "u1" and first.model == "llama3.2:3b"
    assert first.messages[-1] == {"role": "assistant", "content": "Paris is the capital of France."}
    assert (first.prompt_tokens, first.completion_tokens) == (12, 6)
    assert first.reasoning_mode == "standard" and first.latency_ms > 0


def test_openai_style_stream_and_other_paths_pass_through(store):
    body = {**CHAT, "stream": True}
    with StandIn() as upstream, RunningGateway(store, upstream.url) as gw:
        direct = httpx.post(upstream.url + "/v1/chat/completions", json=body).content
        via = httpx.post(gw.url + "/v1/chat/completions", json=body)
        assert via.content == direct and b"data: [DONE]" in via.content
        tags = httpx.get(gw.url + "/api/tags").json()  # not a chat: forwarded as is
        assert tags["models"][0]["name"] == "llama3.2:3b"
        gen = httpx.post(gw.url + "/api/generate", json={"model": "llama3.2:3b",
                                                        "prompt": "Capital?", "stream": False})
        assert gen.json()["response"].startswith("Paris")
        gw.drain()
    logged = sorted(rows(store, Interaction), key=lambda r: r.id)
    assert [r.completion_tokens for r in logged] == [6, 6]
    assert all(r.messages[-1]["content"] == "Paris is the capital of France." for r in logged)


def test_experiment_alias_routes_sticky_by_user_and_feedback_lands(store):
    exp = create_experiment(store, name="t1", alias="assistant", model_a="llama3.2:3b",
                            model_b="tuned:1", split_b=0.5, salt="s")
    set_status(store, exp.id, "running")
    models = {"llama3.2:3b": "base answer here", "tuned:1": "tuned answer here"}
    with StandIn(models=models) as upstream, RunningGateway(store, upstream.url) as gw:
        seen = {}
        for user in ("ann", "bob", "cy", "dee", "ed", "flo"):
            for _ in range(2):
                r = httpx.post(gw.url + "/api/chat", json={**CHAT, "model": "assistant",
                                                           "stream": False},
                               headers={"X-FTUI-User": user})
                arm = r.headers["X-FTUI-Arm"]
                assert seen.setdefault(user, arm) == arm  # sticky
                expected = "tuned answer here" if arm == "B" else "base answer here"
                assert r.json()["message"]["content"] == expected
                assert arm == arm_for("s", user, 0.5)
        uid = r.headers["X-FTUI-Interaction-Id"]
        ok = httpx.post(gw.url + "/ftui/feedback", json={"interaction_id": uid, "rating": 5})
        assert ok.status_code == 200
        assert httpx.post(gw.url + "/ftui/feedback", json={"interaction_id": "nope",
                                                           "rating": 5}).status_code == 404
        assert httpx.post(gw.url + "/ftui/feedback", json={"interaction_id": uid,
                                                           "rating": 9}).status_code == 400
        gw.drain()
    outcomes = rows(store, Outcome)
    assert len(outcomes) == 12 and {o.arm for o in outcomes} == set(seen.values())
    rated = [o for o in outcomes if o.rating is not None]
    assert len(rated) == 1 and rated[0].interaction_uid == uid
    inter = next(i for i in rows(store, Interaction) if i.uid == uid)
    assert inter.rating == 5 and inter.experiment_id == exp.id and inter.arm == rated[0].arm


def test_split_over_10k_units_and_assignment_survives_a_split_change(store):
    share = sum(arm_for("salt-x", f"user-{i}", 0.3) == "B" for i in range(10_000)) / 10_000
    assert abs(share - 0.3) < 0.02  # 3 sigma is 0.014
    exp = create_experiment(store, name="t2", alias="a2", model_a="x:1", model_b="y:1",
                            split_b=0.5, salt="salt-y")
    first = {u: assign(store, exp.id, u).arm for u in map(str, range(200))}
    set_split(store, exp.id, 0.05)
    assert {u: assign(store, exp.id, u).arm for u in first} == first  # sticky
    later = [assign(store, exp.id, f"new-{i}").arm for i in range(400)]
    assert later.count("B") < 60  # new units follow the new split


def test_slot_alias_falls_back_to_the_base_and_says_so(store):
    tuned = registry.register(store, kind="ollama", name="tuned", ollama_name="tuned:latest",
                              base_model="llama3.2:3b")
    registry.set_stage(store, tuned.id, "production")
    with StandIn() as upstream, RunningGateway(store, upstream.url) as gw:  # no tuned:latest
        r = httpx.post(gw.url + "/api/chat", json={**CHAT, "model": "ftui", "stream": False})
        assert r.status_code == 200 and r.json()["message"]["content"].startswith("Paris")
        assert r.headers["X-FTUI-Model"] == "llama3.2:3b"
        assert "tuned:latest answered 404" in r.headers["X-FTUI-Fallback"]
        gw.drain()
    logged = rows(store, Interaction)[0]
    assert "fallback" in logged.tags and logged.context["requested_model"] == "ftui"


def test_upstream_down_gives_502_then_recovers(store):
    port = free_port()
    with RunningGateway(store, f"http://127.0.0.1:{port}") as gw:
        r = httpx.post(gw.url + "/api/chat", json=CHAT)
        assert r.status_code == 502 and "cannot reach Ollama" in r.json()["error"]
        assert httpx.get(gw.url + "/api/tags").status_code == 502
        with StandIn(port=port):
            r = httpx.post(gw.url + "/api/chat", json={**CHAT, "stream": False})
            assert r.status_code == 200 and r.json()["message"]["content"].startswith("Paris")


def test_token_is_required_beyond_loopback(store):
    with pytest.raises(FtuiError, match="without a token") as err:
        serve(store, "0.0.0.0:11435", "http://127.0.0.1:1")
    assert "--token" in err.value.hint
    with StandIn() as upstream, RunningGateway(store, upstream.url, token="s3cret") as gw:
        assert httpx.get(gw.url + "/api/tags").status_code == 401
        assert httpx.get(gw.url + "/api/tags", headers={"Authorization": "Bearer bad"}
                         ).status_code == 401
        ok = ollama.Client(host=gw.url, headers={"Authorization": "Bearer s3cret"})
        assert ok.list().models[0].model == "llama3.2:3b"


def test_slot_alias_falls_back_when_the_model_is_too_slow(store):
    tuned = registry.register(store, kind="ollama", name="tuned", ollama_name="tuned:latest",
                              base_model="llama3.2:3b")
    registry.set_stage(store, tuned.id, "production", "agent")
    models = {"tuned:latest": "late", "llama3.2:3b": "Paris is the capital of France."}
    with StandIn(models=models, slow={"tuned:latest": 3.0}) as upstream, \
            RunningGateway(store, upstream.url, first_byte_timeout_s=0.5) as gw:
        r = httpx.post(gw.url + "/api/chat", json={**CHAT, "model": "ftui:agent",
                                                   "stream": False}, timeout=10)
        assert r.json()["message"]["content"].startswith("Paris")
        assert "did not answer in 0.5 s" in r.headers["X-FTUI-Fallback"]


def test_busy_store_delays_logging_but_loses_nothing(store):
    import sqlite3
    import threading
    import time

    path = store.url.removeprefix("sqlite:///")
    with StandIn() as upstream, RunningGateway(store, upstream.url) as gw:
        gw.gateway.writer.retry_s = 0.05
        lock = sqlite3.connect(path, timeout=0, check_same_thread=False)
        lock.execute("BEGIN EXCLUSIVE")  # another process holds the store
        released = threading.Timer(2.0, lock.rollback)  # the writer waits meanwhile
        released.start()
        started = time.monotonic()
        for _ in range(5):
            r = httpx.post(gw.url + "/api/chat", json={**CHAT, "stream": False})
            assert r.status_code == 200  # replies are not held up by the store
        assert time.monotonic() - started < 3.0
        gw.drain(timeout=30)
        released.join()
        lock.close()
        assert len(rows(store, Interaction)) == 5


def test_writer_retries_a_batch_the_store_refuses(store, monkeypatch):
    """Past the busy timeout SQLite gives up ("database is locked"): the batch stays queued
    and is written when the store is free again."""
    from sqlalchemy.exc import OperationalError

    from ftui.ab.logwriter import LogWriter

    writer = LogWriter(store, retry_s=0.01)
    real, failures = writer._commit, [3]

    def flaky(objs):
        if failures[0]:
            failures[0] -= 1
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        real(objs)

    monkeypatch.setattr(writer, "_commit", flaky)
    writer.start()
    for i in range(20):
        writer.put({"kind": "interaction", "uid": f"u{i}", "path": "/api/chat",
                    "raw": b'{"message": {"content": "hi"}, "done": true}', "mode": "standard",
                    "messages": [{"role": "user", "content": f"q{i}"}], "model": "m",
                    "latency_ms": 1.0, "fell_back": False})
    writer.close()
    assert writer.retries == 3 and len(rows(store, Interaction)) == 20


def test_an_arm_not_in_ollama_is_refused_with_the_fix(store, tmp_path):
    from ftui.ab.experiments import gateway_warnings

    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    local = registry.register(store, kind="hf", name="local-only", path=str(folder))
    exp = create_experiment(store, name="t9", alias="assistant", model_a="llama3.2:3b",
                            model_b="local-only", split_b=0.99, salt="s")
    set_status(store, exp.id, "running")
    assert "ftui models deploy" in gateway_warnings(store, exp)[0]
    with StandIn() as upstream, RunningGateway(store, upstream.url) as gw:
        r = httpx.post(gw.url + "/api/chat", json={**CHAT, "model": "assistant"},
                       headers={"X-FTUI-User": "someone"})
        assert r.status_code == 404 and f"ftui models deploy {local.id}" in r.json()["error"]
