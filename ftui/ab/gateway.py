"""`ftui proxy`: an Ollama-compatible gateway the chat app points OLLAMA_HOST at.

Every request is forwarded upstream and the reply streamed back chunk by chunk as it arrives.
Chat requests (/api/chat, /api/generate, /v1/chat/completions) are also:
- routed: an experiment's alias goes to arm A or B (sticky per user, else session); `ftui` or
  `ftui:<slot>` goes to that slot's production model, falling back to its base when it errors or
  does not start answering in time (recorded);
- answered with `X-FTUI-Interaction-Id` (and `X-FTUI-Model`, `X-FTUI-Arm`);
- logged as interactions (source `gateway`) by a writer thread, after the reply is sent.
`POST /ftui/feedback {"interaction_id", "rating"}` rates an interaction and its outcome.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, web

from ftui import REASONING_MODES
from ftui.ab.logwriter import LogWriter
from ftui.errors import FtuiError
from ftui.store import Store

CHAT_PATHS = ("/api/chat", "/api/generate", "/v1/chat/completions")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "content-length", "host", "proxy-authorization", "proxy-authenticate"}
CACHE_S = 2.0  # how stale routing decisions may be (experiments, production models)


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class Route:
    model: str  # what upstream is asked for
    fallback: str | None = None
    experiment_id: int | None = None
    arm: str | None = None
    unit: str | None = None


@dataclass
class _Cache:
    at: float = 0.0
    experiments: dict[str, Any] = field(default_factory=dict)
    slots: dict[str, tuple[str, str | None] | None] = field(default_factory=dict)
    arms: dict[tuple[int, str], str] = field(default_factory=dict)


def _ollama_name_of(store: Store, ref: str) -> tuple[str, str | None]:
    """(Ollama name to serve, fallback Ollama name) for a registry ref or a plain Ollama name."""
    from ftui.registry import get_model

    try:
        m = get_model(store, ref)
    except FtuiError:
        return ref, None
    if not m.ollama_name:
        raise FtuiError(f"model {m.name} is not in Ollama yet",
                        f"deploy it first: ftui models deploy {m.id}")
    deployed = m.metrics.get("deployed") or {}
    fallback = deployed.get("from") or (m.base_model if m.kind == "ollama" else None)
    return m.ollama_name, fallback


class Gateway:
    def __init__(self, store: Store, upstream: str, *, token: str | None = None,
                 fallback: str | None = None, first_byte_timeout_s: float = 60.0) -> None:
        self.store = store
        self.upstream = upstream.rstrip("/")
        self.token = token
        self.default_fallback = fallback
        self.first_byte_timeout_s = first_byte_timeout_s
        self.writer = LogWriter(store)
        self.cache = _Cache()
        self.session: ClientSession | None = None
        self.issued: dict[str, float] = {}

    # ------------------------------------------------------------ app

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth], client_max_size=1 << 30)
        app.router.add_post("/ftui/feedback", self._feedback)
        app.router.add_get("/ftui/health", self._health)
        app.router.add_route("*", "/{tail:.*}", self._proxy)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, _app) -> None:
        if not self.writer.is_alive():
            self.writer.start()
        # no total timeout: a long generation may stream for minutes
        self.session = ClientSession(auto_decompress=False, timeout=ClientTimeout(
            total=None, sock_connect=10), connector=TCPConnector(limit=0))

    async def _stop(self, _app) -> None:
        if self.session is not None:
            await self.session.close()
        await asyncio.get_running_loop().run_in_executor(None, self.writer.close)

    @web.middleware
    async def _auth(self, request: web.Request, handler):
        if self.token:
            given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if given != self.token and request.headers.get("X-FTUI-Token") != self.token:
                return web.json_response({"error": "ftui gateway: missing or wrong token"},
                                         status=401)
        return await handler(request)

    async def _health(self, _request) -> web.Response:
        return web.json_response({"ok": True, "upstream": self.upstream,
                                  "queued": self.writer.queue.qsize(),
                                  "written": self.writer.written})

    # ------------------------------------------------------------ routing

    def _refresh(self) -> None:
        if time.monotonic() - self.cache.at < CACHE_S:
            return
        from ftui.ab.experiments import list_experiments

        self.cache.experiments = {e.alias: e for e in list_experiments(self.store)
                                  if e.status == "running"}
        self.cache.slots = {}
        self.cache.at = time.monotonic()

    def _route(self, requested: str, unit: str | None, mode: str) -> Route:
        """Runs in a thread (it may read and write the store)."""
        self._refresh()
        exp = self.cache.experiments.get(requested)
        if exp is not None and (exp.slot in (None, mode)):
            from ftui.ab.experiments import assign

            unit = unit or "anonymous"
            key = (exp.id, unit)
            arm = self.cache.arms.get(key)
            if arm is None:
                arm = self.cache.arms[key] = assign(self.store, exp, unit).arm
            model, fallback = _ollama_name_of(self.store, exp.model_a if arm == "A"
                                              else exp.model_b)
            return Route(model, fallback or self.default_fallback, exp.id, arm, unit)
        if requested == "ftui" or requested.startswith("ftui:"):
            slot = requested.partition(":")[2] or "general"
            if slot == "auto":
                slot = mode
            if slot not in self.cache.slots:
                from ftui.inference.router import select_model

                m = select_model(self.store, slot)
                self.cache.slots[slot] = _ollama_name_of(self.store, str(m.id)) if m else None
            found = self.cache.slots[slot]
            if found is None:
                if self.default_fallback:
                    return Route(self.default_fallback)
                raise FtuiError(f"no production model for slot {slot!r} (nor general)",
                                "promote one: ftui models promote ID --slot SLOT")
            return Route(found[0], found[1] or self.default_fallback)
        return Route(requested)

    # ------------------------------------------------------------ handlers

    def _upstream_headers(self, request: web.Request) -> dict[str, str]:
        out = {}
        for k, v in request.headers.items():
            low = k.lower()
            if low in HOP_BY_HOP or low.startswith("x-ftui-"):
                continue
            if low == "authorization" and self.token:
                continue
            out[k] = v
        return out

    @staticmethod
    def _down_headers(headers) -> dict[str, str]:
        return {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}

    def _bad_gateway(self, err: BaseException) -> web.Response:
        return web.json_response(
            {"error": f"ftui gateway: cannot reach Ollama at {self.upstream} "
                      f"({type(err).__name__}); start it (ollama serve) or fix --upstream"},
            status=502)

    async def _proxy(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if request.method == "POST" and request.path in CHAT_PATHS:
            try:
                payload = json.loads(body) if body else None
            except ValueError:
                payload = None
            if isinstance(payload, dict) and isinstance(payload.get("model"), str):
                return await self._chat(request, payload, body)
        try:
            up = await self.session.request(request.method, self.upstream + request.path_qs,
                                            headers=self._upstream_headers(request), data=body)
        except (ClientError, OSError) as err:
            return self._bad_gateway(err)
        return await self._relay(request, up, {})

    async def _relay(self, request: web.Request, up, extra: dict[str, str],
                     keep: list[bytes] | None = None) -> web.StreamResponse:
        resp = web.StreamResponse(status=up.status, headers={**self._down_headers(up.headers),
                                                             **extra})
        await resp.prepare(request)
        try:
            async for chunk in up.content.iter_any():
                await resp.write(chunk)
                if keep is not None:
                    keep.append(chunk)
        finally:
            up.release()
        await resp.write_eof()
        return resp

    def _messages(self, path: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
        if path == "/api/generate":
            msgs = [{"role": "system", "content": payload["system"]}] if payload.get(
                "system") else []
            return [*msgs, {"role": "user", "content": str(payload.get("prompt") or "")}]
        return [m for m in payload.get("messages") or [] if isinstance(m, dict)]

    async def _chat(self, request: web.Request, payload: dict[str, Any],
                    body: bytes) -> web.StreamResponse:
        started = time.perf_counter()
        path = request.path
        h = request.headers
        messages = self._messages(path, payload)
        mode = h.get("X-FTUI-Mode", "auto")
        if mode not in REASONING_MODES:
            mode = "auto"
        if mode == "auto":
            from ftui.inference.router import pick_mode

            mode = pick_mode(messages, payload.get("tools"))
        user = h.get("X-FTUI-User") or (payload.get("user") if isinstance(
            payload.get("user"), str) else None)
        session_id = h.get("X-FTUI-Session")
        requested = payload["model"]
        loop = asyncio.get_running_loop()
        try:
            route = await loop.run_in_executor(None, self._route, requested, user or session_id,
                                               mode)
        except FtuiError as err:
            return web.json_response({"error": f"ftui gateway: {err.message}; {err.hint}"},
                                     status=404)
        headers = self._upstream_headers(request)
        reason = None
        tried = [route.model] + ([route.fallback] if route.fallback else [])
        up = None
        for attempt, model in enumerate(tried):
            data = body if model == requested else json.dumps({**payload, "model": model})
            try:
                up = await asyncio.wait_for(self.session.post(
                    self.upstream + request.path_qs, headers=headers, data=data),
                    self.first_byte_timeout_s)
            except (TimeoutError, ClientError, OSError) as err:
                reason = (f"{model} did not answer in {self.first_byte_timeout_s:g} s"
                          if isinstance(err, asyncio.TimeoutError)
                          else f"{model}: {type(err).__name__}")
                if attempt + 1 < len(tried):
                    continue
                return self._bad_gateway(err)
            if up.status >= 400 and attempt + 1 < len(tried):
                reason = f"{model} answered {up.status}"
                up.release()
                continue
            break
        fell_back = reason is not None
        uid = uuid.uuid4().hex
        self._remember(uid)
        extra = {"X-FTUI-Interaction-Id": uid, "X-FTUI-Model": model}
        if route.arm:
            extra["X-FTUI-Arm"] = route.arm
        if fell_back:
            extra["X-FTUI-Fallback"] = reason
        kept: list[bytes] = []
        status = up.status
        resp = await self._relay(request, up, extra, kept)
        if status < 400:
            self.writer.put({
                "kind": "interaction", "uid": uid, "path": path, "raw": b"".join(kept),
                "messages": messages, "tools": payload.get("tools"), "mode": mode,
                "model": model, "latency_ms": (time.perf_counter() - started) * 1000,
                "user_id": user, "session_id": session_id, "fell_back": fell_back,
                "context": {"requested_model": requested, "fallback_reason": reason}
                if fell_back or requested != model else None,
                "experiment_id": route.experiment_id, "arm": route.arm,
                "unit": route.unit})
        return resp

    def _remember(self, uid: str) -> None:
        """Ids this gateway handed out, so feedback need not ask the store (bounded)."""
        self.issued[uid] = time.monotonic()
        if len(self.issued) > 200_000:
            for old in list(self.issued)[:100_000]:
                del self.issued[old]

    async def _feedback(self, request: web.Request) -> web.Response:
        try:
            payload = await request.json()
            uid = str(payload["interaction_id"])
            rating = payload["rating"]
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": 'send {"interaction_id": "...", "rating": 1-5}'},
                                     status=400)
        if rating not in (1, 2, 3, 4, 5) or isinstance(rating, bool):
            return web.json_response({"error": "rating must be a whole number from 1 to 5"},
                                     status=400)
        if uid not in self.issued and not await asyncio.get_running_loop().run_in_executor(
                None, self._known, uid):
            return web.json_response({"error": f"unknown interaction {uid}"}, status=404)
        self.writer.put({"kind": "feedback", "uid": uid, "rating": rating})
        return web.json_response({"ok": True, "interaction_id": uid, "rating": rating})

    def _known(self, uid: str) -> bool:
        from sqlmodel import select

        from ftui.store import Interaction

        with self.store.session() as s:
            return s.exec(select(Interaction.id).where(Interaction.uid == uid)).first() \
                is not None


def serve(store: Store, listen: str, upstream: str, *, token: str | None = None,
          fallback: str | None = None, print_fn=print) -> None:
    """Run the gateway until interrupted; on exit the log queue is written out."""
    host, _, port = listen.rpartition(":")
    host = host or "127.0.0.1"
    if not port.isdigit():
        raise FtuiError(f"--listen {listen!r} is not HOST:PORT", "e.g. --listen 127.0.0.1:11435")
    if not is_loopback(host) and not token:
        raise FtuiError(f"binding to {host} exposes the gateway beyond this machine without a "
                        "token", "pass --token SECRET (clients send Authorization: Bearer "
                        "SECRET), or listen on 127.0.0.1")
    gateway = Gateway(store, upstream, token=token, fallback=fallback)
    print_fn(f"ftui gateway on http://{host}:{port} -> {upstream}; point the chat app's "
             f"OLLAMA_HOST at it. ctrl+c stops (queued logs are written first).")
    web.run_app(gateway.app(), host=host.strip("[]"), port=int(port), print=None,
                access_log=None)
