"""Personal slots (issue 14): the gateway serves a request carrying X-FTUI-User from that user's
production model, else the user's team's, else the mode's, else the domain's, else `general`,
and says which in X-FTUI-Slot. Real HTTP on 127.0.0.1 against the stand-in Ollama; hostile user
headers are sent as raw bytes, as a broken or hostile client would."""

from __future__ import annotations

import http.client
import json
import socket
from urllib.parse import urlsplit

import httpx
import pytest
from gateway_harness import RunningGateway
from ollama_standin import StandIn
from sqlmodel import select

from ftui import registry
from ftui.ab.gateway import serve
from ftui.config import people, personal_slot, team_map, user_slot
from ftui.curate import DatasetSpec, build_dataset
from ftui.errors import FtuiError
from ftui.inference.router import select_model, slot_chain
from ftui.store import Interaction

TEAMS = {"alice": "platform", "bob": "platform", "carol": "research"}
SLOTS = {  # Ollama name -> the slot it is production in
    "alice-tuned:1": "user:alice", "ålice-tuned:1": "user:ålice",
    "platform-tuned:1": "team:platform", "cot-tuned:1": "chain_of_thought",
    "code-tuned:1": "programming", "general-tuned:1": "general"}
REPLIES = {name: f"answer from {slot}" for name, slot in SLOTS.items()}
REASONING = "Why is the sky blue?"  # the auto rule picks chain_of_thought
PLAIN = "hello there"  # ... and standard


def chat(prompt: str, model: str = "ftui:auto") -> dict:
    return {"model": model, "stream": False,
            "messages": [{"role": "user", "content": prompt}]}


@pytest.fixture
def promoted(store) -> dict[str, int]:
    ids = {}
    for name, slot in SLOTS.items():
        m = registry.register(store, kind="ollama", name=name.split(":")[0], ollama_name=name,
                              base_model="llama3.2:3b")
        registry.set_stage(store, m.id, "production", slot)
        ids[slot] = m.id
    return ids


@pytest.fixture
def served(store, promoted):
    models = {**REPLIES, "llama3.2:3b": "answer from the base"}
    with StandIn(models=models) as upstream, \
            RunningGateway(store, upstream.url, teams=TEAMS) as gw:
        yield gw, upstream


def post(gw, body: dict, **headers) -> httpx.Response:
    return httpx.post(gw.url + "/api/chat", json=body, headers=headers, timeout=10)


def raw_post(gw, header_lines: list[bytes], body: dict) -> tuple[int, dict[str, str], bytes]:
    """POST /api/chat with the header lines exactly as given (bytes no client would send)."""
    where = urlsplit(gw.url)
    data = json.dumps(body).encode()
    head = (b"POST /api/chat HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: " + str(len(data)).encode() + b"\r\n"
            + b"".join(line + b"\r\n" for line in header_lines) + b"\r\n")
    with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
        sock.sendall(head + data)
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        return resp.status, dict(resp.getheaders()), resp.read()


# ---------------------------------------------------------------- the chain, step by step


@pytest.mark.parametrize(("user", "prompt", "domain", "model", "slot"), [
    ("alice", REASONING, "programming", "ftui:auto", "user:alice"),  # the user's own
    ("bob", REASONING, "programming", "ftui:auto", "team:platform"),  # no own: the team's
    ("carol", REASONING, "programming", "ftui:auto", "chain_of_thought"),  # team has none
    ("dave", PLAIN, "programming", "ftui:auto", "programming"),  # no team; standard has none
    ("dave", PLAIN, None, "ftui:auto", "general"),  # no domain either
    (None, REASONING, None, "ftui:auto", "chain_of_thought"),  # anonymous: mode first
    ("alice", PLAIN, None, "ftui", "user:alice"),  # `ftui` (general) is personal too
    ("bob", PLAIN, None, "ftui:programming", "team:platform"),  # ... and so is a domain alias
    ("dave", PLAIN, None, "ftui:programming", "programming"),
    ("dave", REASONING, None, "ftui", "general"),  # `ftui` ignores the mode, as before
])
def test_each_step_of_the_routing_chain_over_http(served, user, prompt, domain, model, slot):
    gw, upstream = served
    headers = {k: v for k, v in (("X-FTUI-User", user), ("X-FTUI-Domain", domain)) if v}
    r = post(gw, chat(prompt, model), **headers)
    assert r.status_code == 200, r.text
    assert r.headers["X-FTUI-Slot"] == slot
    assert r.json()["message"]["content"] == f"answer from {slot}"
    assert upstream.requests[-1][2]["model"] == next(n for n, s in SLOTS.items() if s == slot)


def test_archiving_walks_the_chain_down_to_general_then_says_what_is_missing(
        store, served, promoted):
    gw, _ = served
    body = chat(REASONING)
    headers = {"X-FTUI-User": "alice", "X-FTUI-Domain": "programming"}
    expected = ["user:alice", "team:platform", "chain_of_thought", "programming", "general"]
    for slot in expected:
        gw.gateway.cache.at = 0.0  # read the registry again now (it is cached for 2 s)
        r = post(gw, body, **headers)
        assert (r.status_code, r.headers.get("X-FTUI-Slot")) == (200, slot)
        registry.set_stage(store, promoted[slot], "archived")
    gw.gateway.cache.at = 0.0
    r = post(gw, body, **headers)
    assert r.status_code == 404 and "X-FTUI-Slot" not in r.headers
    assert ("no production model in any of the slots user:alice, team:platform, "
            "chain_of_thought, programming, general") in r.json()["error"]
    assert "ftui models promote ID --slot SLOT" in r.json()["error"]


def test_a_personal_model_that_fails_falls_back_to_its_base_and_the_log_names_the_slot(
        store, promoted):
    models = {k: v for k, v in REPLIES.items() if k != "alice-tuned:1"}  # not in Ollama
    with StandIn(models={**models, "llama3.2:3b": "answer from the base"}) as upstream, \
            RunningGateway(store, upstream.url, teams=TEAMS) as gw:
        r = post(gw, chat(PLAIN), **{"X-FTUI-User": "alice"})
        assert r.json()["message"]["content"] == "answer from the base"
        assert r.headers["X-FTUI-Slot"] == "user:alice"
        assert "alice-tuned:1 answered 404" in r.headers["X-FTUI-Fallback"]
        gw.drain()
    with store.session() as s:
        (row,) = s.exec(select(Interaction)).all()
    assert row.user_id == "alice" and "fallback" in row.tags
    assert row.context["slot"] == "user:alice" and row.context["requested_model"] == "ftui:auto"


def test_experiment_aliases_and_plain_model_names_are_not_personal(store, served):
    from ftui.ab import create_experiment, set_status

    gw, _ = served
    exp = create_experiment(store, name="e", alias="assistant", model_a="general-tuned:1",
                            model_b="cot-tuned:1", split_b=0.5, salt="s")
    set_status(store, exp.id, "running")
    gw.gateway.cache.at = 0.0
    r = post(gw, chat(PLAIN, "assistant"), **{"X-FTUI-User": "alice"})
    assert r.status_code == 200 and r.headers["X-FTUI-Arm"] in "AB"
    assert "X-FTUI-Slot" not in r.headers  # the experiment decides, not alice's slot
    r = post(gw, chat(PLAIN, "general-tuned:1"), **{"X-FTUI-User": "alice"})
    assert r.json()["message"]["content"] == "answer from general"
    assert "X-FTUI-Slot" not in r.headers


# ---------------------------------------------------------------- hostile user headers

GENERAL = (200, "general")
ALICE = (200, "user:alice")
# (what the case is, header lines as sent, extra request fields, expected (status, slot))
CORPUS = [
    ("empty", [b"X-FTUI-User: "], {}, GENERAL),
    ("blank", [b"X-FTUI-User:    "], {}, GENERAL),
    ("optional whitespace is not part of the value", [b"X-FTUI-User:   alice  "], {}, ALICE),
    ("header names are case-insensitive", [b"x-ftui-user: alice"], {}, ALICE),
    ("200 characters: too long to name a slot", [b"X-FTUI-User: " + b"a" * 200], {}, GENERAL),
    ("20,000 bytes: over the HTTP parser's line limit", [b"X-FTUI-User: " + b"a" * 20_000],
     {}, (400, None)),
    ("unicode user id", ["X-FTUI-User: ålice".encode()], {}, (200, "user:%C3%A5lice")),
    ("unicode, decomposed: another id", ["X-FTUI-User: a\u030alice".encode()], {}, GENERAL),
    ("zero-width space", ["X-FTUI-User: alice\u200b".encode()], {}, GENERAL),
    ("not UTF-8", [b"X-FTUI-User: alice\xff"], {}, GENERAL),
    ("control character", [b"X-FTUI-User: ali\x01ce"], {}, (400, None)),
    ("NUL", [b"X-FTUI-User: ali\x00ce"], {}, (400, None)),
    ("a bare CR", [b"X-FTUI-User: alice\rX-FTUI-Domain: programming"], {}, (400, None)),
    ("team injection", [b"X-FTUI-User: team:platform"], {}, GENERAL),
    ("user injection", [b"X-FTUI-User: user:alice"], {}, GENERAL),
    ("colon suffix", [b"X-FTUI-User: alice:admin"], {}, GENERAL),
    ("case differs", [b"X-FTUI-User: ALICE"], {}, GENERAL),
    ("percent-encoded", [b"X-FTUI-User: al%69ce"], {}, GENERAL),
    ("path", [b"X-FTUI-User: ../alice"], {}, GENERAL),
    ("SQL", [b"X-FTUI-User: alice' OR '1'='1"], {}, GENERAL),
    ("two different users", [b"X-FTUI-User: alice", b"X-FTUI-User: bob"], {}, (400, None)),
    ("the same user twice", [b"X-FTUI-User: alice", b"X-FTUI-User: alice"], {}, ALICE),
    ("50 different users", [b"X-FTUI-User: u%d" % i for i in range(50)], {}, (400, None)),
    ("50 other headers", [b"X-Junk-%d: x" % i for i in range(50)] + [b"X-FTUI-User: alice"],
     {}, ALICE),
    ("domain header names a personal slot", [b"X-FTUI-Domain: user:alice"], {}, GENERAL),
    ("the OpenAI user field", [], {"user": "alice"}, ALICE),
    ("the header wins over the user field", [b"X-FTUI-User: bob"], {"user": "alice"},
     (200, "team:platform")),
    ("a user field that is not text", [], {"user": {"id": "alice"}}, GENERAL),
    ("a personal slot as the model name", [b"X-FTUI-User: alice"],
     {"model": "ftui:user:alice"}, (404, None)),
    ("a team slot as the model name", [], {"model": "ftui:team:platform"}, (404, None)),
]


def test_hostile_user_headers_never_reach_anothers_model(store, served, caplog):
    gw, _ = served
    for case, lines, fields, (status, slot) in CORPUS:
        got_status, headers, body = raw_post(gw, lines, {**chat(PLAIN), **fields})
        assert (got_status, headers.get("X-FTUI-Slot")) == (status, slot), (case, body[:300])
        if status == 200:  # the model named in the slot header answered
            reply = json.loads(body)["message"]["content"]
            assert reply == f"answer from {personal_slot_name(slot)}", case
        if case == "two different users":
            assert b"names 2 different users in X-FTUI-User headers; send one" in body
    assert httpx.get(gw.url + "/ftui/health").status_code == 200  # it kept serving
    refused = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert len(refused) == 4 and all(  # one line each, no traceback
        r.exc_info is None and "refused a malformed request (400)" in r.getMessage()
        for r in refused)
    gw.drain()
    with store.session() as s:
        users = {row.user_id for row in s.exec(select(Interaction))}
    assert "a" * 200 in users and "ålice" in users and "team:platform" in users
    assert "alice\ufffd" in users  # stored cleaned, never routed


def personal_slot_name(header: str) -> str:
    from urllib.parse import unquote

    return unquote(header)


# ---------------------------------------------------------------- slots and the team map


def test_slot_names_and_the_chain():
    assert personal_slot("user:alice@example.com") == ("user", "alice@example.com")
    assert personal_slot("team:platform") == ("team", "platform")
    for bad in ("user:", "user:a b", "user:a:b", "user:" + "x" * 129, "team:Platform",
                "team:", "group:x", "user:alice\n", "user:\x00", "alice"):
        assert personal_slot(bad) is None, bad
    assert user_slot("team:platform") is None and user_slot("") is None
    assert slot_chain("agent", "docs", user="alice", team="platform") == [
        "user:alice", "team:platform", "agent", "docs", "general"]
    assert slot_chain(None, None, user="a b", team="Bad Team") == ["general"]


def test_promotion_to_personal_slots_and_refusals(store):
    m = registry.register(store, kind="ollama", name="m1", ollama_name="m1:latest")
    registry.set_stage(store, m.id, "production", "user:alice")
    assert select_model(store, "standard", user="alice").id == m.id
    assert select_model(store, "standard", user="bob") is None
    registry.set_stage(store, m.id, "production", "team:platform")
    assert select_model(store, "standard", user="bob", team="platform").id == m.id
    for bad in ("user:a b", "team:Platform", "user:", "user:x:y"):
        with pytest.raises(FtuiError, match="not a simple name") as err:
            registry.set_stage(store, m.id, "production", bad)
        assert "user:ID or team:NAME" in err.value.hint


@pytest.mark.parametrize(("teams", "message"), [
    ({"Platform": ["alice"]}, "team name 'Platform' is not a simple name"),
    ({"platform": "alice"}, "is not a list of user ids"),
    ({"platform": ["alice", 3]}, "is not a list of user ids"),
    ({"platform": ["a b"]}, "lists 'a b', which is not a user id"),
    ({"platform": ["alice"], "research": ["alice"]}, "user 'alice' is in two teams"),
    ("platform", "[teams] is not a table"),
])
def test_a_bad_team_map_is_refused_with_a_fix(teams, message):
    with pytest.raises(FtuiError, match=message.replace("[", r"\[")) as err:
        team_map({"teams": teams})
    assert err.value.hint


def test_the_gateway_reads_the_team_map_from_config_and_refuses_a_bad_one(store, tmp_path,
                                                                         monkeypatch):
    monkeypatch.setenv("FTUI_HOME", str(tmp_path))
    (tmp_path / "config.toml").write_text('[teams]\nplatform = ["alice"]\nops = ["alice"]\n')
    with pytest.raises(FtuiError, match="in two teams"):
        serve(store, "127.0.0.1:0", "http://127.0.0.1:1")
    (tmp_path / "config.toml").write_text('[teams]\nplatform = ["alice", "bob"]\n')
    assert people([], ["platform"]) == ["alice", "bob"]


def test_a_changed_team_map_applies_without_a_restart_and_a_broken_one_is_refused(
        store, promoted, tmp_path, caplog):
    import os

    config = tmp_path / "config.toml"

    def write(text: str, tick: int) -> None:
        config.write_text(text)
        os.utime(config, ns=(tick * 10**9, tick * 10**9))  # a new mtime, whatever the clock

    write('[teams]\nplatform = ["bob"]\n', 1)
    with StandIn(models=REPLIES) as upstream, RunningGateway(
            store, upstream.url, teams=team_map({"teams": {"platform": ["bob"]}}),
            config_file=config) as gw:
        def slot_of_bob() -> str:
            gw.gateway.cache.at = 0.0
            return post(gw, chat(PLAIN), **{"X-FTUI-User": "bob"}).headers["X-FTUI-Slot"]

        assert slot_of_bob() == "team:platform"
        write('[teams]\nresearch = ["bob"]\n', 2)  # research has no model: general serves
        assert slot_of_bob() == "general"
        write('[teams]\nplatform = ["bob"]\nresearch = ["bob"]\n', 3)  # refused
        assert slot_of_bob() == "general"
        assert "[teams] not applied: config: user 'bob' is in two teams" in caplog.text
        write('[teams]\nplatform = ["bob"]\n', 4)
        assert slot_of_bob() == "team:platform"


# ---------------------------------------------------------------- dataset rules


def test_dataset_rules_select_by_user_and_by_team(store, served, tmp_path, monkeypatch):
    monkeypatch.setenv("FTUI_HOME", str(tmp_path))
    (tmp_path / "config.toml").write_text(
        "[teams]\n" + "".join(f'{t} = {json.dumps([u for u, x in TEAMS.items() if x == t])}\n'
                              for t in set(TEAMS.values())))
    gw, _ = served
    for user in ("alice", "bob", "carol", "dave"):
        for n in range(2):
            assert post(gw, chat(f"{user} asks question {n}"),
                        **{"X-FTUI-User": user}).status_code == 200
    gw.drain()

    def users_of(name: str, **rules) -> list[str]:
        spec = DatasetSpec(min_rating=None, include_unrated=True, near_dup=None, val=0.0,
                           **rules)
        _, result, _ = build_dataset(store, name, spec)
        with store.session() as s:
            return sorted(s.get(Interaction, e.interaction_id).user_id for e in result.examples)

    assert users_of("dave", users=("dave",)) == ["dave", "dave"]
    assert users_of("platform", teams=("platform",)) == ["alice", "alice", "bob", "bob"]
    assert users_of("both", users=("dave",), teams=("research",)) == [
        "carol", "carol", "dave", "dave"]
    with pytest.raises(FtuiError, match="team 'nope'") as err:
        users_of("nope", teams=("nope",))
    assert "[teams]" in err.value.hint
    with pytest.raises(FtuiError, match="is not a simple name"):
        DatasetSpec(teams=("Not A Team",)).validate()
    # rules without users or teams keep the canonical form (and hash) they had before
    assert "users" not in DatasetSpec().as_dict() and "teams" not in DatasetSpec().as_dict()


# ---------------------------------------------------------------- from the command line


def test_cli_promotes_to_a_user_slot_and_builds_by_user_and_team(store, served, tmp_path,
                                                                 monkeypatch, capsys):
    from ftui.cli import main

    gw, upstream = served
    monkeypatch.setenv("FTUI_HOME", str(tmp_path))
    monkeypatch.setenv("OLLAMA_HOST", upstream.url)
    (tmp_path / "config.toml").write_text('[teams]\nplatform = ["alice", "bob"]\n')
    mine = registry.register(store, kind="ollama", name="dave-own", ollama_name="cot-tuned:1")
    code = main(["--db", store.url, "models", "promote", str(mine.id), "--slot", "user:dave",
                 "--general-items", "2", "--force", "dave asked for his own", "--json"])
    assert code == 0, capsys.readouterr()
    assert json.loads(capsys.readouterr().out)["slot"] == "user:dave"
    gw.gateway.cache.at = 0.0
    r = post(gw, chat(PLAIN), **{"X-FTUI-User": "dave"})
    assert (r.headers["X-FTUI-Slot"], r.headers["X-FTUI-Model"]) == ("user:dave", "cot-tuned:1")
    assert main(["--db", store.url, "models", "promote", str(mine.id), "--slot", "user:a b",
                 "--force", "x"]) == 2
    assert "user:ID or team:NAME" in capsys.readouterr().err

    for user in ("alice", "bob", "dave"):
        assert post(gw, chat(f"{user} says hi"), **{"X-FTUI-User": user}).status_code == 200
    gw.drain()
    build = ["--db", store.url, "dataset", "build", "--min-rating", "0", "--include-unrated",
             "--near-dup", "off", "--val", "0", "--json"]
    assert main([*build[:4], "platform-set", *build[4:], "--team", "platform"]) == 0
    assert json.loads(capsys.readouterr().out)["splits"]["train"] == 2
    assert main([*build[:4], "dave-set", *build[4:], "--user", "dave"]) == 0
    assert json.loads(capsys.readouterr().out)["splits"]["train"] == 2  # his two chats
    assert main([*build[:4], "nope-set", *build[4:], "--team", "nope"]) == 2
    err = capsys.readouterr().err
    assert "team 'nope'" in err and "fix:" in err
