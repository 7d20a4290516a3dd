"""A stand-in Ollama server on 127.0.0.1 for tests: the real `ollama` client talks to it over
real HTTP. Speaks /api/version, /api/tags, /api/chat (NDJSON streaming or one JSON object),
blobs (HEAD / POST with the digest checked), /api/create (streamed progress; the new model then
answers chat), /api/show (with `model_info`: architecture, embedding length, block count) and
/api/delete, and answers 404 for unknown models, as Ollama does."""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# What a real Ollama reports for smollm2:135m; any model not given its own `model_info` has it.
SMOLLM2_INFO = {"general.architecture": "llama", "llama.embedding_length": 576,
                "llama.block_count": 30, "llama.context_length": 8192}


def llama_info(hidden: int, layers: int) -> dict[str, Any]:
    return {"general.architecture": "llama", "llama.embedding_length": hidden,
            "llama.block_count": layers}


def _check_adapter(standin: StandIn, body: dict[str, Any]) -> tuple[str | None, bool]:
    """(why Ollama refuses the create, whether the model then loads) for the adapter layer, as
    Ollama does: safetensors adapters are converted only on llama and gemma2 bases; a GGUF
    adapter (one file named *.gguf) must say general.type = adapter, and llama.cpp refuses to
    load it later when its general.architecture is not the base's."""
    adapters = body.get("adapters") or {}
    if not adapters:
        return None, True
    base_arch = standin.model_info.get(body.get("from"), SMOLLM2_INFO)["general.architecture"]
    if not any(name.endswith(".gguf") for name in adapters):
        return (None if base_arch in ("llama", "gemma2") else "unsupported architecture"), True
    if len(adapters) != 1:
        return "only one GGUF adapter file can be given", True
    import tempfile

    import gguf

    with tempfile.NamedTemporaryFile(suffix=".gguf") as f:
        f.write(standin.blobs[next(iter(adapters.values()))])
        f.flush()
        try:
            fields = gguf.GGUFReader(f.name).fields
        except (ValueError, OSError) as err:
            return f"invalid file magic or not a GGUF file: {err}", True
        kind = fields["general.type"].contents() if "general.type" in fields else "model"
        arch = fields["general.architecture"].contents()
    if kind != "adapter":
        return f"the adapter file is a GGUF {kind}, not an adapter", True
    return None, arch == base_arch


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-stream (a cancel, a test that is done) is normal here: saying
    so with a traceback on stderr lands in whichever later test is capturing stderr."""

    allow_reuse_address = True
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class StandIn:
    def __init__(self, models: dict[str, str] | None = None, delay_s: float = 0.0,
                 port: int = 0, slow: dict[str, float] | None = None,
                 model_info: dict[str, dict[str, Any]] | None = None) -> None:
        self.models = models or {"llama3.2:3b": "Paris is the capital of France."}
        self.model_info = dict(model_info or {})  # name -> /api/show model_info
        self.fail_chat: dict[str, int] = {}  # name -> HTTP status its chats answer with
        # a scripted model (e.g. a judge): name -> function(request body) -> reply text, or
        # an int: the HTTP status that request fails with
        self.scripted: dict[str, Any] = {}
        self.digests: dict[str, str] = {}  # name -> digest /api/tags lists (else zeros)
        self.delay_s = delay_s
        self.slow = slow or {}  # model -> seconds before it answers
        self.requests: list[tuple[str, str, Any]] = []
        self.blobs: dict[str, bytes] = {}
        self.created: dict[str, dict[str, Any]] = {}  # name -> the create request
        self.created_reply = "Hello! I am the deployed model."
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _json(self, code: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                standin.requests.append(("GET", self.path, None))
                if self.path == "/api/version":
                    self._json(200, {"version": "0.12.0"})
                elif self.path == "/api/tags":
                    self._json(200, {"models": [{"name": m, "model": m, "size": 1,
                                                 "digest": standin.digests.get(
                                                     m, "sha256:" + "0" * 64)}
                                                for m in standin.models]})
                else:
                    self._json(404, {"error": "not found"})

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = b""
                    while True:
                        size = int(self.rfile.readline().strip(), 16)
                        if size == 0:
                            self.rfile.readline()
                            return data
                        data += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def do_HEAD(self) -> None:
                standin.requests.append(("HEAD", self.path, None))
                digest = self.path.rsplit("/", 1)[-1]
                self.send_response(200 if digest in standin.blobs else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_DELETE(self) -> None:
                body = json.loads(self._body() or b"{}")
                standin.requests.append(("DELETE", self.path, body))
                name = body.get("model")
                if standin.models.pop(name, None) is None:
                    self._json(404, {"error": f"model '{name}' not found"})
                    return
                standin.created.pop(name, None)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                raw = self._body()
                if self.path.startswith("/api/blobs/"):
                    digest = self.path.rsplit("/", 1)[-1]
                    standin.requests.append(("POST", self.path, len(raw)))
                    if "sha256:" + hashlib.sha256(raw).hexdigest() != digest:
                        self._json(400, {"error": "digest mismatch"})
                        return
                    known = digest in standin.blobs
                    standin.blobs[digest] = raw
                    self.send_response(200 if known else 201)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.loads(raw)
                standin.requests.append(("POST", self.path, body))
                if self.path == "/api/create":
                    self._create(body)
                    return
                if self.path == "/api/show":
                    if body.get("model") not in standin.models:
                        self._json(404, {"error": f"model '{body.get('model')}' not found"})
                        return
                    made = standin.created.get(body["model"], {})
                    info = standin.model_info.get(body["model"], SMOLLM2_INFO)
                    self._json(200, {"modelfile": "", "parameters": "",
                                     "template": made.get("template", ""),
                                     "details": {"format": "gguf",
                                                 "family": info["general.architecture"]},
                                     "model_info": info})
                    return
                if self.path not in ("/api/chat", "/api/generate", "/v1/chat/completions"):
                    self._json(404, {"error": "not found"})
                    return
                model = body.get("model")
                if model not in standin.models:
                    self._json(404, {"error": f"model '{model}' not found"})
                    return
                time.sleep(standin.slow.get(model, standin.delay_s))
                if model in standin.fail_chat:
                    self._json(standin.fail_chat[model], {"error": "llama runner process has "
                                                          "terminated: exit status 2"})
                    return
                scripted = standin.scripted.get(model)
                reply = scripted(body) if scripted else standin.models[model]
                if isinstance(reply, int):  # a scripted failure: the HTTP status to answer
                    self._json(reply, {"error": "llama runner process has terminated"})
                    return
                words = reply.split(" ")
                if self.path == "/v1/chat/completions":
                    self._openai(model, words, reply, body.get("stream", False))
                    return
                key = "response" if self.path == "/api/generate" else "message"
                final = {"model": model, "created_at": "2026-11-25T00:00:00Z", "done": True,
                         "done_reason": "stop", "total_duration": 1_000_000,
                         "prompt_eval_count": 12, "eval_count": len(words),
                         "message": {"role": "assistant", "content": ""}}
                if key == "response":
                    final.pop("message")
                    final["response"] = ""
                if body.get("stream") is False:
                    if key == "response":
                        final["response"] = reply
                    else:
                        final["message"]["content"] = reply
                    self._json(200, final)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i, word in enumerate(words):
                    piece = word if i == 0 else " " + word
                    self._chunk({"model": model, "done": False,
                                 **({"response": piece} if key == "response" else
                                    {"message": {"role": "assistant", "content": piece}})})
                self._chunk(final)
                self.wfile.write(b"0\r\n\r\n")

            def _openai(self, model: str, words: list[str], reply: str, stream: bool) -> None:
                usage = {"prompt_tokens": 12, "completion_tokens": len(words),
                         "total_tokens": 12 + len(words)}
                if not stream:
                    self._json(200, {"id": "chatcmpl-1", "object": "chat.completion",
                                     "model": model, "usage": usage, "choices": [{
                                         "index": 0, "finish_reason": "stop",
                                         "message": {"role": "assistant", "content": reply}}]})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i, word in enumerate(words):
                    delta = {"content": word if i == 0 else " " + word}
                    self._sse({"id": "chatcmpl-1", "object": "chat.completion.chunk",
                               "model": model, "choices": [{"index": 0, "delta": delta,
                                                            "finish_reason": None}]})
                self._sse({"id": "chatcmpl-1", "object": "chat.completion.chunk",
                           "model": model, "usage": usage,
                           "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                line = b"data: [DONE]\n\n"
                self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")

            def _sse(self, obj: dict) -> None:
                line = ("data: " + json.dumps(obj) + "\n\n").encode()
                self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                self.wfile.flush()

            def _create(self, body: dict[str, Any]) -> None:
                base = body.get("from")
                if base and base not in standin.models:
                    self._json(404, {"error": f"model '{base}' not found"})
                    return
                for digest in [*(body.get("files") or {}).values(),
                               *(body.get("adapters") or {}).values()]:
                    if digest not in standin.blobs:
                        self._json(400, {"error": f"blob {digest} not found"})
                        return
                refused, loads = _check_adapter(standin, body)
                if refused:
                    self._json(400, {"error": refused})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                steps = ["parsing GGUF", "converting adapter" if body.get("adapters")
                         else "converting model", "using existing layer",
                         "writing manifest", "success"]
                if body.get("quantize"):
                    steps.insert(2, f"quantizing F32 model to {body['quantize']}")
                for status in steps:
                    self._chunk({"status": status})
                self.wfile.write(b"0\r\n\r\n")
                standin.created[body["model"]] = body
                if base in standin.model_info:  # an adapter keeps its base's shape
                    standin.model_info[body["model"]] = standin.model_info[base]
                standin.models[body["model"]] = standin.created_reply
                if not loads:  # llama.cpp: "model arch and LoRA arch mismatch"
                    standin.fail_chat[body["model"]] = 500

            def _chunk(self, obj: dict) -> None:
                line = (json.dumps(obj) + "\n").encode()
                self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                self.wfile.flush()

        self.server = _QuietServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> StandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
