"""Run the gateway in a thread (its own event loop) on a free port on 127.0.0.1, for tests and
benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import sys
import threading
import time

from aiohttp import web

from ftui.ab.gateway import Gateway


class RunningGateway:
    def __init__(self, store, upstream: str, **kwargs) -> None:
        self.gateway = Gateway(store, upstream, **kwargs)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.runner = web.AppRunner(self.gateway.app(), access_log=None)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.runner.cleanup())  # drains the log writer
        self.loop.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until every queued record is written."""
        assert self.gateway.writer.flush(timeout), "the log writer did not catch up"

    def __enter__(self) -> RunningGateway:
        self.thread.start()
        self.ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)


class ScriptedUpstream:
    """A lenient upstream: answers every request on a chat path with the reply set for that path
    (status, body bytes, content type), whatever the request body is (even when it is not
    JSON), as a model server that accepts anything would; other paths answer 404. It records
    the bodies it got."""

    OLLAMA = (200, b'{"model":"m","message":{"role":"assistant","content":"fine"},"done":true,'
                   b'"prompt_eval_count":3,"eval_count":1}', "application/json")
    GENERATE = (200, b'{"model":"m","response":"fine","done":true}', "application/json")
    OPENAI = (200, b'{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":'
                   b'{"role":"assistant","content":"fine"},"finish_reason":"stop"}]}',
              "application/json")

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.replies = {"/api/chat": self.OLLAMA, "/api/generate": self.GENERATE,
                        "/v1/chat/completions": self.OPENAI}
        self.bodies: list[bytes] = []
        self.truncate = False  # announce more than is sent, then hang up
        self.pause_s = 0.0  # wait this long after the first line of the reply
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = b""
                    while size := int(self.rfile.readline().strip(), 16):
                        data += self.rfile.read(size)
                        self.rfile.readline()
                    self.rfile.readline()
                    return data
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def do_POST(self) -> None:
                upstream.bodies.append(self._body())
                status, body, ctype = upstream.replies.get(
                    self.path, (404, b'{"error":"not found"}', "application/json"))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body) + 1000 * upstream.truncate))
                self.end_headers()
                first, sep, rest = body.partition(b"\n")
                self.wfile.write(first + sep)
                self.wfile.flush()
                time.sleep(upstream.pause_s if rest else 0)
                with contextlib.suppress(OSError):  # the gateway may have hung up
                    self.wfile.write(rest)
                self.close_connection = upstream.truncate

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedUpstream:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class ProxyProcess:
    """`ftui proxy` as its own process (for signals: ctrl+c, kill -9), on a port it picks
    (--listen 127.0.0.1:0) and prints."""

    def __init__(self, db_url: str, upstream: str, *extra: str) -> None:
        self.args = [sys.executable, "-m", "ftui", "--db", db_url, "proxy", "--listen",
                     "127.0.0.1:0", "--upstream", upstream, *extra]
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def __enter__(self) -> ProxyProcess:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert found and found.group(1) != "0", (line, self.proc.stderr.read()
                                                 if self.proc.poll() is not None else "")
        self.url = f"http://127.0.0.1:{found.group(1)}"
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)
        self.proc.stdout.close()
        self.proc.stderr.close()
