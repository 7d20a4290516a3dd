"""generate_many: local prompts batched (left padding, greedy) give token for token the answers of
one prompt at a time; Ollama prompts go out concurrently (the real client against the stand-in
on 127.0.0.1), in order, with per-prompt errors; cancel stops early; evaluation uses both."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from ollama_standin import StandIn

from ftui.inference import local_generate
from ftui.inference.batch import Progress, generate_many

# different lengths on purpose: the batch pads them on the left
QUESTIONS = ["hi", "What is the capital of France?",
             "Explain in two sentences why the sky is blue and what scattering means.",
             "2+2?", "Write a short poem about autumn leaves on a quiet pond, please.",
             "Name three colours.", "How do I reverse a list in Python without a loop?"]
PROMPTS = [[{"role": "user", "content": q}] for q in QUESTIONS]


@pytest.fixture(scope="module")
def lively(tmp_path_factory, models_cache) -> str:
    """The tiny model with larger random weights: greedy answers that differ from prompt to
    prompt (the plain tiny one answers every prompt with the same newlines, which would let a
    broken padding pass unseen)."""
    import torch

    from ftui.train.base import load_base

    home = tmp_path_factory.mktemp("home")
    (home / "models").symlink_to(models_cache)  # tiny is built once per session
    tok, model = load_base("tiny", home)
    torch.manual_seed(7)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    folder = home / "lively-tiny"
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def _local(base: str) -> dict:
    return {"backend": "local", "base": base}


def test_batched_answers_equal_one_at_a_time(lively, tmp_path):
    one = generate_many(_local(lively), PROMPTS, home=tmp_path, max_new_tokens=8, batch_size=1)
    many = generate_many(_local(lively), PROMPTS, home=tmp_path, max_new_tokens=8, batch_size=4)
    assert all(o.ok for o in one + many)
    ids = [o.generation.token_ids for o in one]
    assert len({tuple(x) for x in ids}) >= 4, ids  # the answers really differ
    for a, b in zip(one, many, strict=True):
        assert a.generation.token_ids == b.generation.token_ids, QUESTIONS[a.index]
        assert a.generation.text == b.generation.text
    # in the prompts' order (the batches ran longest first), prompt lengths unpadded
    lengths = [o.generation.prompt_tokens for o in many]
    assert [o.index for o in many] == list(range(len(PROMPTS)))
    assert lengths[QUESTIONS.index("hi")] == min(lengths) < max(lengths) == lengths[2]
    # and the same as the streaming path the playground uses, for the shortest and longest
    for i in (0, 2):
        alone = local_generate(lively, None, PROMPTS[i], tmp_path, max_new_tokens=8)
        assert alone.token_ids == many[i].generation.token_ids and alone.text == many[i].generation.text


def test_a_prompt_that_cannot_be_templated_fails_alone(lively, tmp_path):
    prompts = [PROMPTS[1], [{"role": "user", "content": None}], PROMPTS[3]]
    seen: list[Progress] = []
    out = generate_many(_local(lively), prompts, home=tmp_path, max_new_tokens=4,
                        on_progress=seen.append)
    assert out[0].ok and out[2].ok and not out[1].ok
    assert "chat template" in out[1].error.message and out[1].error.hint
    assert seen[-1].done == 3 and seen[-1].failed == 1 and seen[-1].eta_s == 0


def test_cancel_between_local_batches(lively, tmp_path):
    stop = threading.Event()
    seen: list[Progress] = []

    def heard(p: Progress) -> None:
        seen.append(p)
        stop.set()  # after the first batch

    out = generate_many(_local(lively), PROMPTS[:6], home=tmp_path, max_new_tokens=6,
                        batch_size=2, on_progress=heard, cancel=stop)
    assert [o.ok for o in out].count(True) == 2 and [o.cancelled for o in out].count(True) == 4
    assert len(seen) == 1 and seen[0].done == 2 and seen[0].eta_s > 0


def test_cancel_stops_a_local_batch_within_a_token(lively, tmp_path):
    stop = threading.Event()
    timer = threading.Timer(0.5, stop.set)
    started = time.perf_counter()
    timer.start()
    # without the cancel this would take many seconds: 4 x 1500 tokens
    out = generate_many(_local(lively), PROMPTS[:4], home=tmp_path, max_new_tokens=1500,
                        batch_size=4, cancel=stop)
    assert all(o.cancelled for o in out) and time.perf_counter() - started < 5


# ---------------------------------------------------------------- Ollama: concurrent


def _echo_server(delay: dict[str, float] | None = None, fail: set[str] = frozenset()):
    """A stand-in whose model echoes the question, after a delay per question; counts how
    many requests were in flight at once."""
    server = StandIn(models={"echo:1": ""})
    state = {"now": 0, "most": 0}
    lock = threading.Lock()

    def answer(body):
        question = body["messages"][-1]["content"]
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep((delay or {}).get(question, 0.05))
        with lock:
            state["now"] -= 1
        return 500 if question in fail else f"echo {question}"

    server.scripted["echo:1"] = answer
    return server, state


def test_ollama_requests_run_concurrently_in_order():
    # the first questions are the slowest: they finish last, and still come back first
    delay = {q: 0.4 - 0.05 * i for i, q in enumerate(QUESTIONS)}
    server, state = _echo_server(delay)
    with server:
        out = generate_many({"backend": "ollama", "name": "echo:1"}, PROMPTS, home=Path("."),
                            host=server.url, max_new_tokens=9, parallel=4)
        sent = [b for _, p, b in server.requests if p == "/api/chat"]
    assert [o.generation.text for o in out] == [f"echo {q}" for q in QUESTIONS]
    assert state["most"] == 4  # four at once, never more
    assert all(b["options"] == {"num_predict": 9, "temperature": 0.0} for b in sent)


def test_an_ollama_error_is_that_prompts_alone():
    server, _ = _echo_server(fail={QUESTIONS[2]})
    with server:
        out = generate_many({"backend": "ollama", "name": "echo:1"}, PROMPTS, home=Path("."),
                            host=server.url, parallel=3)
    assert [o.ok for o in out] == [i != 2 for i in range(len(PROMPTS))]
    assert "500" in out[2].error.message and out[2].error.hint
    assert out[3].generation.text == f"echo {QUESTIONS[3]}"


def test_cancel_stops_ollama_requests_early():
    server, _ = _echo_server({q: 0.3 for q in QUESTIONS})
    stop = threading.Event()
    with server:
        out = generate_many({"backend": "ollama", "name": "echo:1"}, PROMPTS * 3,
                            home=Path("."), host=server.url, parallel=2,
                            on_progress=lambda p: stop.set(), cancel=stop)
        asked = sum(1 for _, p, _ in server.requests if p == "/api/chat")
    answered = sum(o.ok for o in out)
    assert 1 <= answered <= 4 and asked <= 4  # of 21: the rest were never sent
    assert sum(o.cancelled for o in out) == len(out) - answered


# ---------------------------------------------------------------- evaluation uses it


def _echo_dataset(store, n: int = 6) -> int:
    from ftui.curate import DatasetSpec, build_dataset
    from ftui.ingest import log_interaction

    for i in range(n):
        log_interaction(store, [{"role": "user", "content": f"question {i}?"},
                                {"role": "assistant", "content": f"echo question {i}?"}],
                        rating=5)
    version, _, _ = build_dataset(store, "echo", DatasetSpec(near_dup=None, val=0.0))
    return version.id


def test_evaluation_goes_on_past_a_failed_answer(store, tmp_path):
    from ftui.registry import get_model, register
    from ftui.registry.evaluate import EvalProgress, evaluate

    dataset = _echo_dataset(store)
    server, state = _echo_server({f"question {i}?": 0.2 for i in range(6)}, fail={"question 2?"})
    updates: list[EvalProgress] = []
    with server:
        model = register(store, kind="ollama", name="echo", ollama_name="echo:1")
        got = evaluate(store, model.id, home=tmp_path, host=server.url, dataset_id=dataset,
                       split="train", parallel=3, on_update=updates.append)
    assert state["most"] == 3
    assert got["examples"] == 5 and got["failed"] == 1 and "500" in got["errors"][0]
    assert got["exact_match"] == 1.0 and got["settings"]["parallel"] == 3
    assert len(got["settings"]["example_ids"]) == 5 and got["throughput_tokens_per_s"] > 0
    assert get_model(store, model.id).metrics["eval"]["failed"] == 1
    last = updates[-1]
    assert (last.stage, last.done, last.total, last.failed) == ("answers", 6, 6, 1)
    assert "6/6 answered · 1 failed · ETA" in last.line()


def test_evaluation_cancelled_by_its_event_stores_nothing(store, tmp_path):
    from ftui.registry import get_model, register
    from ftui.registry.evaluate import EvaluationCancelled, evaluate

    dataset = _echo_dataset(store)
    server, _ = _echo_server({f"question {i}?": 0.3 for i in range(6)})
    stop = threading.Event()

    def heard(p) -> None:
        if p.done:
            stop.set()

    with server:
        model = register(store, kind="ollama", name="echo", ollama_name="echo:1")
        with pytest.raises(EvaluationCancelled, match="nothing was stored"):
            evaluate(store, model.id, home=tmp_path, host=server.url, dataset_id=dataset,
                     split="train", parallel=1, on_update=heard, cancel=stop)
        asked = sum(1 for _, p, _ in server.requests if p == "/api/chat")
    assert asked <= 2 and "eval" not in get_model(store, model.id).metrics


def test_evaluation_with_ollama_down_says_so(store, tmp_path):
    import socket

    from ftui.errors import FtuiError
    from ftui.registry import register
    from ftui.registry.evaluate import evaluate

    dataset = _echo_dataset(store, 3)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model = register(store, kind="ollama", name="echo", ollama_name="echo:1")
    with pytest.raises(FtuiError, match="cannot reach Ollama") as err:
        evaluate(store, model.id, home=tmp_path, host=f"http://127.0.0.1:{port}",
                 dataset_id=dataset, split="train")
    assert "ollama serve" in err.value.hint
