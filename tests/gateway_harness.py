"""Run the gateway in a thread (its own event loop) on a free port on 127.0.0.1, for tests and
benchmarks."""

from __future__ import annotations

import asyncio
import threading

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
