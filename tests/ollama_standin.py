"""A stand-in Ollama server on 127.0.0.1 for tests: the real `ollama` client talks to it over
real HTTP. Speaks /api/version, /api/tags, /api/chat (NDJSON streaming or one JSON object) and
answers 404 for unknown models, as Ollama does. Later issues extend it (blobs, create, show)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StandIn:
    def __init__(self, models: dict[str, str] | None = None, delay_s: float = 0.0) -> None:
        self.models = models or {"llama3.2:3b": "Paris is the capital of France."}
        self.delay_s = delay_s
        self.requests: list[tuple[str, str, Any]] = []
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
                                                 "digest": "sha256:" + "0" * 64}
                                                for m in standin.models]})
                else:
                    self._json(404, {"error": "not found"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                standin.requests.append(("POST", self.path, body))
                if self.path != "/api/chat":
                    self._json(404, {"error": "not found"})
                    return
                model = body.get("model")
                if model not in standin.models:
                    self._json(404, {"error": f"model '{model}' not found"})
                    return
                time.sleep(standin.delay_s)
                reply = standin.models[model]
                words = reply.split(" ")
                final = {"model": model, "created_at": "2026-11-25T00:00:00Z", "done": True,
                         "done_reason": "stop", "total_duration": 1_000_000,
                         "prompt_eval_count": 12, "eval_count": len(words),
                         "message": {"role": "assistant", "content": ""}}
                if body.get("stream") is False:
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
                                 "message": {"role": "assistant", "content": piece}})
                self._chunk(final)
                self.wfile.write(b"0\r\n\r\n")

            def _chunk(self, obj: dict) -> None:
                line = (json.dumps(obj) + "\n").encode()
                self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
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
