"""The gateway under hostile input and faults: no request stops logging, acknowledged ratings
are durable, tool-call replies are stored, error replies carry no interaction id, limits hold,
and its own errors reach the `openai` client. Real HTTP on 127.0.0.1 throughout."""

from __future__ import annotations

import json
import logging
import signal
import sqlite3
import threading
import time

import httpx
import pytest
from gateway_harness import ProxyProcess, RunningGateway, ScriptedUpstream
from ollama_standin import StandIn

from ftui.ab import create_experiment, set_status
from ftui.ab.logwriter import LogWriter
from ftui.ingest import interaction_row
from ftui.store import Interaction, Outcome

BIG = 18446744073709551616  # 2**64


def rows(store, table):
    from sqlmodel import select

    with store.session() as s:
        return list(s.exec(select(table)))


def chat(content, **more) -> dict:
    return {"model": "m", "messages": [{"role": "user", "content": content}], "stream": False,
            **more}


def nested(depth: int):
    value: object = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def tool(schema_extra) -> list:
    return [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"n": {"type": "integer", **schema_extra}}}}}]


# (name, path, raw request body): each is a JSON object with a model name, so an upstream that
# accepts anything answers it, and so the gateway must store it (sanitized where it has to be).
CORPUS: list[tuple[str, str, bytes]] = [
    ("lone surrogate", "/api/chat",
     b'{"model":"m","stream":false,"messages":[{"role":"user","content":"hi \\ud800 there"}]}'),
    ("lone low surrogate, openai", "/v1/chat/completions",
     b'{"model":"m","messages":[{"role":"user","content":"x\\udfff"}]}'),
    ("surrogate in the model name", "/api/chat",
     b'{"model":"m\\ud800","stream":false,"messages":[{"role":"user","content":"hi"}]}'),
    ("2**64 in a tool schema", "/api/chat", json.dumps(chat("q", tools=tool({"maximum": BIG})))
     .encode()),
    ("huge negative int", "/api/chat", json.dumps(chat("q", tools=tool({"minimum": -10 ** 40})))
     .encode()),
    ("NUL in the text", "/api/chat", json.dumps(chat("a\u0000b")).encode()),
    ("NUL in the model name", "/api/chat", json.dumps({**chat("q"), "model": "m\u0000x"})
     .encode()),
    ("newline in the model name", "/api/chat", json.dumps({**chat("q"), "model": "m\r\nX: y"})
     .encode()),
    ("tool schema 400 deep", "/api/chat", json.dumps(chat("q", tools=tool({"x": nested(400)})))
     .encode()),
    ("content 300 deep", "/api/chat", json.dumps(chat(nested(300))).encode()),
    ("messages is a string", "/api/chat", b'{"model":"m","stream":false,"messages":"hello"}'),
    ("messages are numbers", "/api/chat", b'{"model":"m","stream":false,"messages":[1,2,3]}'),
    ("content is a number", "/api/chat", json.dumps(chat(42)).encode()),
    ("role is missing", "/api/chat", b'{"model":"m","messages":[{"content":"hi"}]}'),
    ("role is a list", "/api/chat", b'{"model":"m","messages":[{"role":[1],"content":"hi"}]}'),
    ("tools is a number", "/api/chat", json.dumps(chat("q", tools=7)).encode()),
    ("user is an object", "/api/chat", json.dumps(chat("q", user={"id": 1})).encode()),
    ("NaN and Infinity", "/api/chat", b'{"model":"m","messages":[{"role":"user","content":"q"}'
                                      b'],"options":{"t":NaN,"u":Infinity},"tools":[{"x":NaN}]}'),
    ("not UTF-8", "/api/chat", b'{"model":"m","messages":[{"role":"user","content":"caf\xe9 '
                               b'\xff\xfe"}]}'),
    ("generate, prompt is an object", "/api/generate",
     b'{"model":"m","prompt":{"a":1},"system":["s"],"stream":false}'),
    ("generate, surrogate system", "/api/generate",
     b'{"model":"m","prompt":"p","system":"\\udc80","stream":false}'),
    ("no messages at all", "/api/chat", b'{"model":"m"}'),
]


def test_hostile_corpus_every_answered_chat_is_stored_and_logging_goes_on(store):
    with ScriptedUpstream() as upstream, RunningGateway(store, upstream.url) as gw:
        answered = {}
        for name, path, body in CORPUS:
            r = httpx.post(gw.url + path, content=body,
                           headers={"Content-Type": "application/json",
                                    "X-FTUI-Mode": "auto"})
            assert r.status_code == 200, (name, r.text)
            assert "X-FTUI-Interaction-Id" in r.headers, name
            answered[r.headers["X-FTUI-Interaction-Id"]] = name
        after = httpx.post(gw.url + "/api/chat", json=chat("a plain question"))
        answered[after.headers["X-FTUI-Interaction-Id"]] = "plain, after the corpus"
        gw.drain()
        health = httpx.get(gw.url + "/ftui/health").json()
        assert health["ok"] and health["writer"]["alive"] and health["writer"]["dropped"] == 0
    stored = {r.uid: r for r in rows(store, Interaction)}
    missing = sorted(name for uid, name in answered.items() if uid not in stored)
    assert missing == []
    by_name = {answered[uid]: row for uid, row in stored.items()}
    assert "sanitized" in by_name["lone surrogate"].tags
    assert "\ufffd" in by_name["lone surrogate"].messages[0]["content"]
    assert "sanitized" not in by_name["plain, after the corpus"].tags
    big = by_name["2**64 in a tool schema"].tools[0]["function"]["parameters"]
    assert str(BIG) in json.dumps(big)  # kept, as text
    assert by_name["messages is a string"].messages[0]["content"] == "hello"
    assert by_name["not UTF-8"].messages[0]["content"].startswith("caf\ufffd")
    odd_model = by_name["surrogate in the model name"]  # only the store's driver refuses it:
    assert "sanitized" in odd_model.tags and odd_model.model == "m\ufffd"  # written alone


def test_a_bad_record_does_not_lose_the_rest_of_its_batch(store):
    writer = LogWriter(store)
    good = {"kind": "interaction", "path": "/api/chat", "mode": "standard", "model": "m",
            "raw": b'{"message": {"content": "hi"}, "done": true}', "latency_ms": 1.0,
            "fell_back": False, "tools": None}
    writer.put({**good, "uid": "g1", "messages": [{"role": "user", "content": "one"}]})
    writer.put({**good, "uid": "bad", "messages": [{"role": "user", "content": "\ud800"}],
                "tools": [{"n": BIG}]})
    writer.put({**good, "uid": "g2", "messages": [{"role": "user", "content": "two"}]})
    writer.start()  # all three are queued before it starts: one batch
    writer.close()
    assert {r.uid for r in rows(store, Interaction)} == {"g1", "bad", "g2"}
    assert writer.state()["sanitized"] == 1


def test_the_writer_survives_any_exception_logs_it_and_health_says_so(store, monkeypatch,
                                                                          caplog):
    import ftui.ab.logwriter as lw

    real, calls = lw.reply_of, [0]

    def broken_once(path, raw):
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("a bug nobody foresaw")
        return real(path, raw)

    monkeypatch.setattr(lw, "reply_of", broken_once)
    with caplog.at_level(logging.ERROR, logger="ftui.gateway"), \
            ScriptedUpstream() as upstream, RunningGateway(store, upstream.url) as gw:
        uids = [httpx.post(gw.url + "/api/chat", json=chat(f"q{i}")).headers[
            "X-FTUI-Interaction-Id"] for i in range(3)]
        gw.drain()
        health = httpx.get(gw.url + "/ftui/health").json()
        assert health["writer"]["alive"] and "a bug nobody foresaw" in health["writer"][
            "last_error"]
        assert health["writer"]["queued"] == 0
    assert "a bug nobody foresaw" in caplog.text
    assert {r.uid for r in rows(store, Interaction)} == set(uids)  # stored sanitized


def test_health_reports_a_dead_writer(store):
    with ScriptedUpstream() as upstream, RunningGateway(store, upstream.url) as gw:
        gw.gateway.writer.close()  # the thread has ended
        r = httpx.get(gw.url + "/ftui/health")
        assert r.status_code == 503
        assert r.json()["ok"] is False and r.json()["writer"]["alive"] is False


def test_ctrl_c_writes_the_queue_out(store):
    """The store is locked by another process while chats come in and ctrl+c arrives; the
    proxy waits for it and writes every answered chat before it exits."""
    path = store.url.removeprefix("sqlite:///")
    with ScriptedUpstream() as upstream, ProxyProcess(store.url, upstream.url) as proxy:
        first = httpx.post(proxy.url + "/api/chat", content=CORPUS[0][2])
        uids = {first.headers["X-FTUI-Interaction-Id"]}
        lock = sqlite3.connect(path, timeout=0, check_same_thread=False)
        lock.execute("BEGIN EXCLUSIVE")
        for i in range(20):
            r = httpx.post(proxy.url + "/api/chat", json=chat(f"q{i}"))
            uids.add(r.headers["X-FTUI-Interaction-Id"])
        proxy.proc.send_signal(signal.SIGINT)
        time.sleep(1.0)
        lock.rollback()
        lock.close()
        assert proxy.proc.wait(60) == 0
    assert {r.uid for r in rows(store, Interaction)} == uids


def test_acknowledged_feedback_survives_kill_9(store):
    path = store.url.removeprefix("sqlite:///")
    with StandIn() as upstream, ProxyProcess(store.url, upstream.url) as proxy:
        uid = httpx.post(proxy.url + "/api/chat", json={**chat("q"), "model": "llama3.2:3b"}
                         ).headers["X-FTUI-Interaction-Id"]
        deadline = time.monotonic() + 20
        while not rows(store, Interaction) and time.monotonic() < deadline:
            time.sleep(0.05)
        lock = sqlite3.connect(path, timeout=0, check_same_thread=False)
        lock.execute("BEGIN IMMEDIATE")  # another writer holds the store for a moment
        threading.Timer(0.5, lock.rollback).start()
        ok = httpx.post(proxy.url + "/ftui/feedback", json={"interaction_id": uid, "rating": 2},
                        timeout=60)
        assert ok.status_code == 200
        proxy.proc.kill()  # kill -9 right after the acknowledgement
        proxy.proc.wait(30)
        lock.close()
    assert rows(store, Interaction)[0].rating == 2


def test_tool_call_replies_are_stored_with_their_calls(store):
    ollama_reply = {"model": "m", "done": True, "message": {"role": "assistant", "content": "",
                    "tool_calls": [{"function": {"name": "get_weather",
                                                 "arguments": {"city": "Paris"}}}]}}
    openai_stream = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": None, "tool_calls": [
            {"index": 0, "id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": ""}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": '{"city": '}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": '"Paris"}'}}]}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]) + b"data: [DONE]\n\n"
    body = chat("Weather in Paris?", tools=tool({}))
    with ScriptedUpstream() as upstream, RunningGateway(store, upstream.url) as gw:
        upstream.replies["/api/chat"] = (200, json.dumps(ollama_reply).encode(),
                                         "application/json")
        upstream.replies["/v1/chat/completions"] = (200, openai_stream, "text/event-stream")
        a = httpx.post(gw.url + "/api/chat", json=body).headers["X-FTUI-Interaction-Id"]
        b = httpx.post(gw.url + "/v1/chat/completions", json={**body, "stream": True}
                       ).headers["X-FTUI-Interaction-Id"]
        gw.drain()
        for uid in (a, b):
            assert httpx.post(gw.url + "/ftui/feedback", json={"interaction_id": uid,
                                                               "rating": 4}).status_code == 200
    stored = {r.uid: r for r in rows(store, Interaction)}
    for uid, args in ((a, {"city": "Paris"}), (b, '{"city": "Paris"}')):
        reply = stored[uid].messages[-1]
        expected = interaction_row([body["messages"][0], {
            "role": "assistant", "content": "", "tool_calls": [{"function": {
                "name": "get_weather", "arguments": args}}]}])  # as import stores it
        want = json.loads(expected["messages_json"])[-1]
        assert reply["tool_calls"][0]["function"] == want["tool_calls"][0]["function"]
        assert reply["content"] == "" and stored[uid].rating == 4
    assert stored[b].messages[-1]["tool_calls"][0]["id"] == "call_1"


def test_error_replies_get_no_interaction_id_and_unknown_ids_get_404(store):
    with ScriptedUpstream() as upstream, RunningGateway(store, upstream.url) as gw:
        for status in (404, 500, 503):
            upstream.replies["/api/chat"] = (status, b'{"error":"boom"}', "application/json")
            r = httpx.post(gw.url + "/api/chat", json=chat("q"))
            assert r.status_code == status and "X-FTUI-Interaction-Id" not in r.headers
        upstream.replies["/api/chat"] = (200, b'{"message":{"content":""},"done":true}',
                                         "application/json")
        empty = httpx.post(gw.url + "/api/chat", json=chat("q")).headers.get(
            "X-FTUI-Interaction-Id")
        gw.drain()
        for uid in ("never-issued", empty):
            if uid is None:
                continue
            r = httpx.post(gw.url + "/ftui/feedback", json={"interaction_id": uid, "rating": 3})
            stored = any(row.uid == uid for row in rows(store, Interaction))
            assert r.status_code == (200 if stored else 404), uid


def test_a_rating_given_anywhere_reaches_the_experiment(store):
    """The Interactions screen, `ftui chat` and the Python API all rate through
    interactions.set_rating: the outcome follows."""
    from ftui.ab.report import report
    from ftui.store import interactions

    exp = create_experiment(store, name="r1", alias="assistant", model_a="llama3.2:3b",
                            model_b="tuned:1", split_b=0.5, salt="s", min_samples=1)
    set_status(store, exp.id, "running")
    models = {"llama3.2:3b": "base answer", "tuned:1": "tuned answer"}
    with StandIn(models=models) as upstream, RunningGateway(store, upstream.url) as gw:
        for user in ("ann", "bob", "cy", "dee"):
            httpx.post(gw.url + "/api/chat", json={**chat("q"), "model": "assistant"},
                       headers={"X-FTUI-User": user})
        gw.drain()
    for row in rows(store, Interaction):
        interactions.set_rating(store, row.id, 5 if row.arm == "B" else 2)
    outcomes = rows(store, Outcome)
    assert len(outcomes) == 4
    assert all(o.rating == (5 if o.arm == "B" else 2) for o in outcomes)
    assert report(store, exp.id)["arms"]["B"]["rated"] == sum(o.arm == "B" for o in outcomes)
    interactions.set_rating(store, rows(store, Interaction)[0].id, None)  # cleared: both
    assert sum(o.rating is None for o in rows(store, Outcome)) == 1
    # the Interactions screen rates through undoable edits, in bulk too; undo follows as well
    from ftui.store import edits

    step = edits.change(store, [r.id for r in rows(store, Interaction)], rating=3)
    assert {o.rating for o in rows(store, Outcome)} == {3}
    edits.undo(store, step)
    assert sorted(o.rating or 0 for o in rows(store, Outcome)) == sorted(
        r.rating or 0 for r in rows(store, Interaction))


def test_body_limit_413_on_what_it_reads_and_other_bodies_stream_through(store):
    import hashlib

    limit = 1 << 20
    big_chat = json.dumps(chat("x" * (limit + 10))).encode()
    blob = bytes(range(256)) * (8 * limit // 256)  # 8 MiB: eight times the limit
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    with StandIn() as upstream, RunningGateway(store, upstream.url, max_body=limit) as gw:
        r = httpx.post(gw.url + "/api/chat", content=big_chat)
        assert r.status_code == 413 and "--max-body" in r.json()["error"]

        def chunks():  # no Content-Length: the limit is checked as the body arrives
            for i in range(0, len(big_chat), 65536):
                yield big_chat[i:i + 65536]

        assert httpx.post(gw.url + "/api/chat", content=chunks()).status_code == 413
        v1 = httpx.post(gw.url + "/v1/chat/completions", content=big_chat)
        assert v1.status_code == 413 and v1.json()["error"]["code"] == "request_too_large"
        fb = httpx.post(gw.url + "/ftui/feedback", content=b'{"rating": 5, "x": "' +
                        b"y" * limit + b'"}')
        assert fb.status_code == 413
        up = httpx.post(gw.url + f"/api/blobs/{digest}", content=blob, timeout=60)
        assert up.status_code == 201 and upstream.blobs[digest] == blob
        assert httpx.head(gw.url + f"/api/blobs/{digest}").status_code == 200
        ok = httpx.post(gw.url + "/api/chat", json={**chat("small"), "model": "llama3.2:3b"})
        assert ok.status_code == 200
    assert all(r[:2] != ("POST", "/api/chat") or r[2]["messages"][0]["content"] == "small"
               for r in upstream.requests)  # nothing over the limit went upstream


def test_each_stored_message_is_capped_with_a_visible_mark(store):
    long = "é" * 3000  # 6000 bytes of UTF-8
    with StandIn() as upstream, RunningGateway(store, upstream.url, max_message=1024) as gw:
        r = httpx.post(gw.url + "/api/chat", json={**chat(long), "model": "llama3.2:3b"})
        assert r.status_code == 200
        gw.drain()
    row = rows(store, Interaction)[0]
    text = row.messages[0]["content"]
    assert text.startswith("é" * 512) and len(text.encode()) < 1200
    assert "[ftui: truncated here, 4976 more bytes not stored]" in text
    assert "truncated" in row.tags
    assert row.messages[-1]["content"] == "Paris is the capital of France."  # short: whole


def test_the_token_is_compared_in_constant_time(store, monkeypatch):
    import hmac

    import ftui.ab.gateway as gateway

    seen, real = [], hmac.compare_digest

    def spy(a, b):
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(gateway.hmac, "compare_digest", spy)
    with StandIn() as upstream, RunningGateway(store, upstream.url, token="s3cret") as gw:
        assert httpx.get(gw.url + "/api/tags", headers={"Authorization": "Bearer nope"}
                         ).status_code == 401
        odd = httpx.get(gw.url + "/api/tags", headers={"Authorization": b"Bearer \xc3\xa9\xff"})
        assert odd.status_code == 401  # not a 500
        v1 = httpx.post(gw.url + "/v1/chat/completions", json=chat("q"))
        assert v1.status_code == 401 and v1.json()["error"]["type"] == "authentication_error"
        assert httpx.get(gw.url + "/api/tags", headers={"Authorization": "Bearer s3cret"}
                         ).status_code == 200
    assert (b"s3cret", b"s3cret") in seen


def test_listen_on_port_0_prints_the_port_it_bound(store):
    with StandIn() as upstream, ProxyProcess(store.url, upstream.url) as proxy:
        assert httpx.get(proxy.url + "/ftui/health").json()["ok"]  # the printed port answers


@pytest.mark.parametrize("listen", ["127.0.0.1:99999", "127.0.0.1:http", "127.0.0.1:",
                                    "300.1.2.3:8080", "[::1:8080", "nohostnoport", "-1"])
def test_a_bad_listen_value_names_the_cause_and_the_fix(listen):
    from ftui.ab.gateway import parse_listen
    from ftui.errors import FtuiError

    with pytest.raises(FtuiError) as err:
        parse_listen(listen)
    assert "--listen" in err.value.message and err.value.hint


def test_the_cli_refuses_a_bad_listen_value_with_exit_2():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "ftui", "--db", "sqlite://", "proxy",
                           "--listen", "127.0.0.1:99999", "--upstream", "http://127.0.0.1:9"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "fix:" in done.stderr and "Traceback" not in done.stderr


def test_a_port_in_use_says_why_and_exits_2(store):
    import socket
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "ftui", "--db", store.url, "proxy",
                               "--listen", f"127.0.0.1:{port}", "--upstream",
                               "http://127.0.0.1:9"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "fix:" in done.stderr and "Traceback" not in done.stderr
    assert f"127.0.0.1:{port}" in done.stderr


def test_openai_client_shows_the_gateways_own_errors(store):
    import socket

    import openai
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    with RunningGateway(store, f"http://127.0.0.1:{dead}") as gw:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)
        with pytest.raises(openai.APIStatusError) as err:
            client.chat.completions.create(model="m", messages=[{"role": "user",
                                                                 "content": "q"}])
    assert err.value.status_code == 502 and err.value.code == "upstream_unreachable"
    assert "cannot reach Ollama" in err.value.message and "--upstream" in err.value.message


def test_a_reply_upstream_broke_off_is_cut_off_downstream_too_and_not_stored(store):
    with ScriptedUpstream() as upstream, RunningGateway(store, upstream.url) as gw:
        upstream.truncate = True
        with httpx.stream("POST", gw.url + "/api/chat", json=chat("q")) as r:
            uid = r.headers["X-FTUI-Interaction-Id"]
            with pytest.raises(httpx.RemoteProtocolError):  # not a clean, complete reply
                r.read()
        upstream.truncate = False
        fb = httpx.post(gw.url + "/ftui/feedback", json={"interaction_id": uid, "rating": 1})
        assert fb.status_code == 404 and "cut the reply off" in fb.json()["error"]
        assert httpx.post(gw.url + "/api/chat", json=chat("q")).status_code == 200
        gw.drain()
    assert len(rows(store, Interaction)) == 1


def test_closing_a_writer_whose_thread_is_gone_still_writes_the_queue(store):
    writer = LogWriter(store)  # never started, as if its thread had died
    writer.put({"kind": "interaction", "uid": "late", "path": "/api/chat", "mode": "standard",
                "model": "m", "raw": b'{"message": {"content": "hi"}, "done": true}',
                "latency_ms": 1.0, "fell_back": False, "tools": None,
                "messages": [{"role": "user", "content": "q"}]})
    writer.close()
    assert [r.uid for r in rows(store, Interaction)] == ["late"]


def test_a_rating_given_through_the_python_api_rates_the_interaction_too(store):
    from ftui.ab import log_outcome
    from ftui.ingest import log_interaction

    exp = create_experiment(store, name="py", alias="assistant", model_a="a:1", model_b="b:1")
    row = log_interaction(store, [{"role": "user", "content": "q"},
                                  {"role": "assistant", "content": "a"}], experiment_id=exp.id)
    log_outcome(store, exp.id, "user-1", row.id, rating=4)
    assert rows(store, Interaction)[0].rating == 4 and rows(store, Outcome)[0].rating == 4


def test_a_reply_the_client_abandons_is_stored_with_what_had_arrived(store):
    lines = [{"message": {"role": "assistant", "content": "Paris"}, "done": False},
             {"message": {"role": "assistant", "content": " is the capital."}, "done": True}]
    body = b"".join(json.dumps(x).encode() + b"\n" for x in lines)
    with ScriptedUpstream() as upstream, RunningGateway(store, upstream.url) as gw:
        upstream.replies["/api/chat"] = (200, body, "application/x-ndjson")
        upstream.pause_s = 1.0
        with httpx.stream("POST", gw.url + "/api/chat", json=chat("q")) as r:
            uid = r.headers["X-FTUI-Interaction-Id"]
            next(r.iter_raw())  # the first line, then the user presses stop
        deadline = time.monotonic() + 10
        while not rows(store, Interaction) and time.monotonic() < deadline:
            time.sleep(0.05)
    row = rows(store, Interaction)[0]
    assert row.uid == uid and "abandoned" in row.tags
    assert row.messages[-1]["content"] == "Paris"


def test_what_the_store_will_not_take_at_shutdown_is_kept_in_a_file_import_reads(store,
                                                                                 tmp_path):
    from ftui.cli import main

    path = store.url.removeprefix("sqlite:///")
    writer = LogWriter(store, retry_s=0.05, spill_dir=tmp_path / "home")
    lock = sqlite3.connect(path, timeout=0, check_same_thread=False)
    lock.execute("BEGIN EXCLUSIVE")  # e.g. a stuck process holds the store
    writer.start()
    for i in range(3):
        writer.put({"kind": "interaction", "uid": f"s{i}", "path": "/api/chat",
                    "mode": "standard", "model": "m", "latency_ms": 1.0, "fell_back": False,
                    "raw": b'{"message": {"content": "hi"}, "done": true}', "tools": None,
                    "messages": [{"role": "user", "content": f"q{i}"}]})
    writer.close(timeout=1.0)
    lock.rollback()
    lock.close()
    spilled = list((tmp_path / "home").glob("gateway-unsaved-*.jsonl"))
    assert len(spilled) == 1
    assert main(["--db", store.url, "import", str(spilled[0])]) == 0
    assert {r.uid for r in rows(store, Interaction)} == {"s0", "s1", "s2"}
    assert all("sanitized" not in r.tags for r in rows(store, Interaction))


def test_user_and_session_ids_that_are_not_utf8_still_route_and_log(store):
    exp = create_experiment(store, name="h", alias="assistant", model_a="llama3.2:3b",
                            model_b="tuned:1", split_b=0.5, salt="s")
    set_status(store, exp.id, "running")
    models = {"llama3.2:3b": "base answer", "tuned:1": "tuned answer"}
    with StandIn(models=models) as upstream, RunningGateway(store, upstream.url) as gw:
        r = httpx.post(gw.url + "/api/chat", json={**chat("q"), "model": "assistant"},
                       headers={"X-FTUI-User": b"ann\xff\xfe", "X-FTUI-Session": b"s\xc3"})
        assert r.status_code == 200 and r.headers["X-FTUI-Arm"] in ("A", "B")
        gw.drain()
    row = rows(store, Interaction)[0]
    assert row.user_id.startswith("ann") and row.arm == r.headers["X-FTUI-Arm"]
    assert rows(store, Outcome)[0].unit == row.user_id


def test_a_busy_store_while_writing_one_by_one_loses_nothing(store, monkeypatch):
    from sqlalchemy.exc import OperationalError

    writer = LogWriter(store, retry_s=0.01)
    real, calls = writer._commit, []

    def refuse_then_busy(objs):
        calls.append(len(objs))
        if len(calls) == 1:
            raise ValueError("one record spoilt the batch")
        if len(calls) == 2:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        real(objs)

    monkeypatch.setattr(writer, "_commit", refuse_then_busy)
    for i in range(4):
        writer.put({"kind": "interaction", "uid": f"b{i}", "path": "/api/chat",
                    "mode": "standard", "model": "m", "latency_ms": 1.0, "fell_back": False,
                    "raw": b'{"message": {"content": "hi"}, "done": true}', "tools": None,
                    "messages": [{"role": "user", "content": f"q{i}"}]})
    writer.start()
    writer.close()
    assert {r.uid for r in rows(store, Interaction)} == {f"b{i}" for i in range(4)}
    assert writer.state()["retries"] == 1 and writer.state()["dropped"] == 0


def test_a_chat_nested_deeper_than_the_parser_goes_is_forwarded_and_counted(store):
    deep = b'{"model":"m","messages":[{"role":"user","content":"q"}],"x":' + b"[" * 5000 + \
        b"]" * 5000 + b"}"
    with ScriptedUpstream() as upstream, RunningGateway(store, upstream.url) as gw:
        r = httpx.post(gw.url + "/api/chat", content=deep)
        assert r.status_code == 200 and "X-FTUI-Interaction-Id" not in r.headers
        assert upstream.bodies[-1] == deep  # forwarded as it came
        assert httpx.get(gw.url + "/ftui/health").json()["unlogged_requests"] == 1
