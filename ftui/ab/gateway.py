"""`ftui proxy`: an Ollama-compatible gateway the chat app points OLLAMA_HOST at.

Every request is forwarded upstream and the reply streamed back chunk by chunk as it arrives.
Chat requests (/api/chat, /api/generate, /v1/chat/completions) are also:
- routed: an experiment's alias goes to arm A or B (sticky per user, else session); `ftui`,
  `ftui:auto` or `ftui:<slot>` goes to the production model of the first slot that has one among
  the user's (`user:<X-FTUI-User>`), the user's team's, the mode's, the domain's and `general`
  (ftui.inference.router.slot_chain), falling back to its base when it errors or does not start
  answering in time (recorded). The user header is trusted as the chat app sends it: the
  gateway trusts its clients (loopback, or the token);
- answered with `X-FTUI-Interaction-Id` (and `X-FTUI-Model`, `X-FTUI-Slot`, `X-FTUI-Arm`);
- logged as interactions (source `gateway`) by a writer thread, after the reply is sent;
  only successful replies get an interaction id.
`POST /ftui/feedback {"interaction_id", "rating"}` rates an interaction and its outcome; the
rating is committed before it answers ok (404 for an id that is not stored).
Request bodies the gateway reads (chat paths, feedback) are limited to `max_body` bytes (413
above); every other request body (blob uploads, create) streams through unbuffered. On /v1/* the
gateway's own errors have OpenAI's shape, so OpenAI clients show them.
`GET /metrics` is the Prometheus exposition (ftui.metrics), behind the token like the rest.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, web

from ftui import REASONING_MODES
from ftui.ab.logwriter import LogWriter, clean_text, reply_of
from ftui.config import TEAM_NAME
from ftui.errors import FtuiError
from ftui.metrics import GatewayMetrics, exposition
from ftui.store import Store

CHAT_PATHS = ("/api/chat", "/api/generate", "/v1/chat/completions")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "content-length", "host", "proxy-authorization", "proxy-authenticate"}
CACHE_S = 2.0  # how stale routing decisions may be (experiments, production models)
CUT_OFF = web.ResponseKey("cut_off", str)  # on a relayed reply that did not end: who left
FIRST_AT = web.ResponseKey("first_at", float)  # perf_counter() when the first reply bytes came
MAX_BODY = 32 << 20  # bytes of a request body the gateway reads (chat paths, feedback)
MAX_MESSAGE = 1 << 20  # bytes of one message's text that are stored
OPENAI_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                404: "not_found_error", 413: "invalid_request_error", 500: "api_error",
                502: "api_error", 503: "api_error"}
log = logging.getLogger("ftui.gateway")


def header_value(text: str) -> str:
    """A header-safe form of a model name or a reason (no CR/LF, NUL or non-ASCII)."""
    return text if text.isascii() and text.isprintable() else quote(text, safe=" :/@.,;()-_",
                                                                errors="surrogatepass")


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
    slot: str | None = None  # the slot whose production model serves (slot aliases only)


@dataclass
class _Cache:
    at: float = 0.0
    experiments: dict[str, Any] = field(default_factory=dict)
    production: dict[str, Any] = field(default_factory=dict)  # slot -> its production model
    slots: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    arms: dict[tuple[int, str], str] = field(default_factory=dict)


def _ollama_name_of(store: Store, ref: str) -> tuple[str, str | None]:
    """(Ollama name to serve, fallback Ollama name) for a registry ref or a plain Ollama name."""
    from ftui.registry import get_model

    try:
        m = get_model(store, ref)
    except FtuiError:
        return ref, None
    return _served_names(m)


def _served_names(m) -> tuple[str, str | None]:
    if not m.ollama_name:
        raise FtuiError(f"model {m.name} is not in Ollama yet",
                        f"deploy it first: ftui models deploy {m.id}")
    deployed = m.metrics.get("deployed") or {}
    fallback = deployed.get("from") or (m.base_model if m.kind == "ollama" else None)
    return m.ollama_name, fallback


class _MalformedRequests(logging.Filter):
    """aiohttp logs a request its HTTP parser refuses (a header over 8 KiB, a control character)
    with a traceback, after answering it 400; any client could fill the log with those: one
    line each is enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import BadHttpMessage

        err = record.exc_info[1] if record.exc_info else None
        if isinstance(err, BadHttpMessage):
            record.msg, record.args = "refused a malformed request (400): %s", (
                str(err).splitlines()[0][:200],)
            record.exc_info, record.exc_text, record.levelno = None, None, logging.WARNING
            record.levelname = "WARNING"
        return True


MALFORMED = _MalformedRequests()


class Gateway:
    def __init__(self, store: Store, upstream: str, *, token: str | None = None,
                 fallback: str | None = None, first_byte_timeout_s: float = 60.0,
                 max_body: int = MAX_BODY, max_message: int = MAX_MESSAGE,
                 feedback_wait_s: float = 30.0, spill_dir: Path | None = None,
                 teams: dict[str, str] | None = None, config_file: Path | None = None) -> None:
        self.store = store
        self.upstream = upstream.rstrip("/")
        self.token = token
        self.default_fallback = fallback
        self.first_byte_timeout_s = first_byte_timeout_s
        self.max_body = max_body
        self.feedback_wait_s = feedback_wait_s
        self.writer = LogWriter(store, max_message_bytes=max_message, spill_dir=spill_dir)
        self.cache = _Cache()
        self.session: ClientSession | None = None
        self.unlogged = 0  # chat requests forwarded without logging (unreadable JSON)
        self.teams = teams or {}  # user id -> team (config.toml's [teams])
        self.config_file = config_file  # [teams] is read again from it when it changes
        self._config_seen = _mtime(config_file)
        self.metrics = GatewayMetrics(self.writer, lambda: self.unlogged)

    # ------------------------------------------------------------ app

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth], client_max_size=self.max_body)
        logging.getLogger("aiohttp.server").addFilter(MALFORMED)  # once: filters are a set
        app.router.add_post("/ftui/feedback", self._feedback)
        app.router.add_get("/ftui/health", self._health)
        app.router.add_get("/metrics", self._metrics)
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
            other = request.headers.get("X-FTUI-Token", "")
            if not (self._token_is(given) or self._token_is(other)):
                return self._error(request, 401, "ftui gateway: missing or wrong token",
                                   "invalid_token")
        return await handler(request)

    def _token_is(self, given: str) -> bool:
        """Constant-time, so the token cannot be guessed from response times."""
        return hmac.compare_digest(given.encode("utf-8", "surrogateescape"),
                                   self.token.encode("utf-8", "surrogateescape"))

    def _error(self, request: web.Request, status: int, message: str,
               code: str) -> web.Response:
        """The gateway's own error: OpenAI's shape on /v1/*, Ollama's elsewhere."""
        if request.path.startswith("/v1/"):
            return web.json_response({"error": {
                "message": message, "type": OPENAI_TYPES.get(status, "api_error"),
                "param": None, "code": code}}, status=status)
        return web.json_response({"error": message}, status=status)

    async def _health(self, _request) -> web.Response:
        writer = self.writer.state()
        return web.json_response({"ok": writer["alive"], "upstream": self.upstream,
                                  "queued": writer["queued"], "written": writer["written"],
                                  "unlogged_requests": self.unlogged, "writer": writer},
                                 status=200 if writer["alive"] else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        body, content_type = exposition(self.metrics.registry, request.headers.get("Accept"))
        return web.Response(body=body, headers={"Content-Type": content_type})

    # ------------------------------------------------------------ routing

    def _refresh(self) -> None:
        if time.monotonic() - self.cache.at < CACHE_S:
            return
        from ftui.ab.experiments import list_experiments
        from ftui.inference.router import production_by_slot

        self.cache.experiments = {e.alias: e for e in list_experiments(self.store)
                                  if e.status == "running"}
        self.cache.production = production_by_slot(self.store)
        self.cache.slots = {}
        self._reload_teams()
        self.cache.at = time.monotonic()

    def _reload_teams(self) -> None:
        """A changed config file's [teams] applies from the next request; a broken one is
        refused (logged) and the map in use stays."""
        seen = _mtime(self.config_file)
        if seen == self._config_seen:
            return
        from ftui.config import teams_in

        self._config_seen = seen
        try:
            self.teams = teams_in(self.config_file)
        except FtuiError as err:
            log.warning("config.toml's [teams] not applied: %s; %s", err.message, err.hint)

    def _route(self, requested: str, unit: str | None, mode: str, user: str | None = None,
               domain: str | None = None) -> Route:
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
            return self._route_slot(requested.partition(":")[2], mode, user, domain)
        return Route(requested)

    def _route_slot(self, named: str, mode: str, user: str | None,
                    domain: str | None) -> Route:
        """`ftui` (general), `ftui:auto` (the request's mode) or `ftui:<mode or domain>`, each
        served first by the user's slot, then the user's team's."""
        from ftui.inference.router import first_served, slot_chain

        if named.partition(":")[0] in ("user", "team"):
            raise FtuiError(f"the model name ftui:{named} names a personal slot",
                            "personal slots are picked by the X-FTUI-User header: ask for ftui "
                            "or ftui:auto")
        if named in ("", "auto"):
            wanted_mode = mode if named == "auto" else None
        elif named in REASONING_MODES:
            wanted_mode = named
        else:
            wanted_mode, domain = None, named
        chain = slot_chain(wanted_mode, domain, user=user,
                           team=self.teams.get(user) if user else None)
        slot = first_served(chain, self.cache.production)
        if slot is None:
            if self.default_fallback:
                return Route(self.default_fallback)
            raise FtuiError(f"no production model in any of the slots {', '.join(chain)}",
                            "promote one: ftui models promote ID --slot SLOT")
        if slot not in self.cache.slots:
            self.cache.slots[slot] = _served_names(self.cache.production[slot])
        name, fallback = self.cache.slots[slot]
        return Route(name, fallback or self.default_fallback, slot=slot)

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

    def _bad_gateway(self, request: web.Request, err: BaseException) -> web.Response:
        return self._error(request, 502,
                           f"ftui gateway: cannot reach Ollama at {self.upstream} "
                           f"({type(err).__name__}); start it (ollama serve) or fix --upstream",
                           "upstream_unreachable")

    async def _read_body(self, request: web.Request) -> bytes | None:
        """The whole body, or None when it is over `max_body` (checked as it arrives, so a
        large body is never held)."""
        if request.content_length is not None and request.content_length > self.max_body:
            return None
        chunks, size = [], 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, request: web.Request) -> web.Response:
        return self._error(request, 413, f"ftui gateway: the request body is over "
                           f"{self.max_body} bytes; send less, or start the gateway with a "
                           "larger --max-body", "request_too_large")

    async def _proxy(self, request: web.Request) -> web.StreamResponse:
        if request.method == "POST" and request.path in CHAT_PATHS:
            body = await self._read_body(request)
            if body is None:
                return self._too_large(request)
            payload, repaired = parse_body(body)
            if isinstance(payload, dict) and isinstance(payload.get("model"), str):
                return await self._chat(request, payload, body, repaired)
            if payload is None and body:
                self.unlogged += 1
                log.warning("a request to %s was forwarded but not logged: its body is not "
                            "JSON the gateway can read", request.path)
            data = body
            headers = self._upstream_headers(request)
        else:  # streamed through as it arrives (blob uploads may be gigabytes)
            data = request.content if request.body_exists else None
            headers = self._upstream_headers(request)
            if request.content_length is not None:
                headers["Content-Length"] = str(request.content_length)
        try:
            up = await self.session.request(request.method, self.upstream + request.path_qs,
                                            headers=headers, data=data)
        except (ClientError, OSError) as err:
            return self._bad_gateway(request, err)
        return await self._relay(request, up, {})

    async def _relay(self, request: web.Request, up, extra: dict[str, str],
                     keep: list[bytes] | None = None) -> web.StreamResponse:
        resp = web.StreamResponse(status=up.status, headers={**self._down_headers(up.headers),
                                                             **extra})
        await resp.prepare(request)
        who = "upstream"
        try:
            async for chunk in up.content.iter_any():
                if FIRST_AT not in resp:
                    resp[FIRST_AT] = time.perf_counter()
                who = "client"
                await resp.write(chunk)
                who = "upstream"
                if keep is not None:
                    keep.append(chunk)
        except (ClientError, ConnectionError) as err:
            # upstream broke off, or the client left: hang up (a truncated reply must not look
            # complete to the client) and say so, without a traceback
            log.warning("a reply to %s was cut off by the %s (%s: %s)", request.path, who,
                        type(err).__name__, err)
            if request.transport is not None:
                request.transport.abort()
            resp[CUT_OFF] = who
            return resp
        finally:
            up.release()
        await resp.write_eof()
        return resp

    @staticmethod
    def _messages(path: str, payload: dict[str, Any]) -> Any:
        """The conversation as the client sent it (the writer validates or sanitizes it)."""
        if path == "/api/generate":
            msgs = [{"role": "system", "content": payload["system"]}] if payload.get(
                "system") else []
            return [*msgs, {"role": "user", "content": payload.get("prompt") or ""}]
        return payload.get("messages") or []

    @staticmethod
    def _mode(header: str | None, messages: Any, tools: Any) -> str:
        mode = header if header in REASONING_MODES else "auto"
        if mode != "auto":
            return mode
        from ftui.inference.router import pick_mode

        readable = [m for m in messages if isinstance(m, dict) and isinstance(
            m.get("role"), str) and isinstance(m.get("content"), str)] if isinstance(
            messages, list) else []
        try:
            return pick_mode(readable, tools)
        except Exception:  # noqa: BLE001 - odd input picks the plain mode, never fails a chat
            return "standard"

    async def _chat(self, request: web.Request, payload: dict[str, Any],
                    body: bytes, repaired: str | None) -> web.StreamResponse:
        started = time.perf_counter()
        path = request.path
        h = request.headers
        messages = self._messages(path, payload)
        mode = self._mode(h.get("X-FTUI-Mode"), messages, payload.get("tools"))
        requested = payload["model"]
        users = set(h.getall("X-FTUI-User", []))
        if len(users) > 1:  # two claims of who is asking: serve nobody's personal model
            self._count(self.metrics.labels(requested, mode, None, None), 400, started)
            return self._error(request, 400, f"ftui gateway: the request names {len(users)} "
                               "different users in X-FTUI-User headers; send one",
                               "ambiguous_user")
        user = h.get("X-FTUI-User") or (payload.get("user") if isinstance(
            payload.get("user"), str) else None)
        session_id = h.get("X-FTUI-Session")
        # ids that hash and store: headers may carry bytes that are not UTF-8
        user, session_id = (clean_text(v) if v else None for v in (user, session_id))
        domain = h.get("X-FTUI-Domain")
        domain = domain if domain and TEAM_NAME.fullmatch(domain) else None  # a simple name
        loop = asyncio.get_running_loop()
        try:
            route = await loop.run_in_executor(None, self._route, requested, user or session_id,
                                               mode, user, domain)
        except FtuiError as err:
            self._count(self.metrics.labels(requested, mode, None, None), 404, started)
            return self._error(request, 404, f"ftui gateway: {err.message}; {err.hint}",
                               "model_not_found")
        except Exception as err:  # noqa: BLE001 - e.g. the store is unreadable
            log.exception("routing %r failed", requested)
            self._count(self.metrics.labels(requested, mode, None, None), 503, started)
            return self._error(request, 503, f"ftui gateway: cannot route {requested!r} "
                               f"({type(err).__name__}: {err}); check the store",
                               "routing_failed")
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
                late = isinstance(err, asyncio.TimeoutError)
                reason = (f"{model} did not answer in {self.first_byte_timeout_s:g} s"
                          if late else f"{model}: {type(err).__name__}")
                if attempt + 1 < len(tried):
                    self.metrics.fallback(model, route.slot, "timeout" if late else "unreachable")
                    continue
                labels = self.metrics.labels(model, mode, route.slot, route.arm)
                self._count(labels, 502, started)
                return self._bad_gateway(request, err)
            if up.status >= 400 and attempt + 1 < len(tried):
                reason = f"{model} answered {up.status}"
                self.metrics.fallback(model, route.slot, "error_status")
                up.release()
                continue
            break
        fell_back = reason is not None
        status = up.status
        extra = {"X-FTUI-Model": header_value(model)}
        uid = uuid.uuid4().hex
        if status < 400:  # only a reply gets an id: errors are not stored and cannot be rated
            extra["X-FTUI-Interaction-Id"] = uid
        if route.slot:
            extra["X-FTUI-Slot"] = header_value(route.slot)
        if route.arm:
            extra["X-FTUI-Arm"] = route.arm
        if fell_back:
            extra["X-FTUI-Fallback"] = header_value(reason)
        kept: list[bytes] = []
        resp = await self._relay(request, up, extra, kept)
        cut_off = resp.get(CUT_OFF)
        raw = b"".join(kept)
        labels = self.metrics.labels(model, mode, route.slot, route.arm)
        if cut_off:
            self.metrics.cut_off.labels(by=cut_off).inc()
        whole = status < 400 and cut_off != "upstream"
        first = resp.get(FIRST_AT)
        self._count(labels, status, started, first - started if first and whole else None,
                    *(usage_of(path, raw) if whole else (None, None)),
                    uid=uid if whole else None)
        if cut_off == "upstream":  # the model's reply never arrived whole: nothing to store
            self.writer.not_stored[uid] = "upstream cut the reply off"
        elif status < 400:  # whole, or what had arrived when the client left (tagged)
            self.writer.put({
                "kind": "interaction", "uid": uid, "path": path, "raw": raw,
                "messages": messages, "tools": payload.get("tools"), "mode": mode,
                "model": model, "latency_ms": (time.perf_counter() - started) * 1000,
                "user_id": user, "session_id": session_id, "fell_back": fell_back,
                "context": {"requested_model": requested, "fallback_reason": reason,
                            **({"slot": route.slot} if route.slot else {})}
                if fell_back or requested != model else None,
                "experiment_id": route.experiment_id, "arm": route.arm,
                "unit": route.unit, "sanitized": repaired, "abandoned": bool(cut_off)})
        return resp

    def _count(self, labels: dict[str, str], status: int, started: float,
               first_token_s: float | None = None, tokens_in: int | None = None,
               tokens_out: int | None = None, uid: str | None = None) -> None:
        self.metrics.request(labels, status, time.perf_counter() - started, first_token_s,
                             tokens_in, tokens_out, uid)

    async def _feedback(self, request: web.Request) -> web.Response:
        """Rate an interaction (and its experiment outcome); committed before answering ok."""
        from sqlalchemy.exc import OperationalError

        from ftui.store.interactions import set_rating_by_uid

        usage = 'send {"interaction_id": "...", "rating": 1-5}'
        body = await self._read_body(request)
        if body is None:
            return self._too_large(request)
        payload, _ = parse_body(body)
        if not isinstance(payload, dict) or "interaction_id" not in payload:
            return web.json_response({"error": usage}, status=400)
        uid, rating = str(payload["interaction_id"]), payload.get("rating")
        if rating not in (1, 2, 3, 4, 5) or isinstance(rating, bool):
            return web.json_response({"error": "rating must be a whole number from 1 to 5"},
                                     status=400)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.feedback_wait_s
        while self.writer.is_pending(uid):  # its interaction is still on its way to the store
            if loop.time() > deadline:
                return web.json_response({"error": f"interaction {uid} is not written yet "
                                          "(the store is busy); send the rating again"},
                                         status=503)
            await asyncio.sleep(0.01)
        try:
            found = await loop.run_in_executor(None, set_rating_by_uid, self.store, uid, rating)
        except OperationalError as err:
            return web.json_response({"error": f"the store is busy ({err.orig}); send the "
                                      "rating again"}, status=503)
        if not found:
            why = self.writer.not_stored.get(uid, "no stored interaction has this id")
            return web.json_response({"error": f"interaction {uid} is not stored: {why}"},
                                     status=404)
        self.metrics.rated(uid, rating)
        return web.json_response({"ok": True, "interaction_id": uid, "rating": rating})


def _mtime(path: Path | None) -> float | None:
    try:
        return path.stat().st_mtime_ns if path is not None else None
    except OSError:
        return None


def usage_of(path: str, raw: bytes) -> tuple[int | None, int | None]:
    """(prompt tokens, reply tokens) from the last lines of a reply, where Ollama's final line
    and OpenAI's usage chunk are (reading only those keeps the event loop free)."""
    found = reply_of(path, b"\n".join(raw.rstrip().rsplit(b"\n", 3)[-3:]))
    return found.prompt_tokens, found.completion_tokens


def parse_body(body: bytes) -> tuple[Any, str | None]:
    """(the JSON value or None, why it had to be repaired or None). Text that is not UTF-8 is
    read with U+FFFD in place of the bad bytes (as Ollama's own JSON decoder does); JSON nested
    deeper than Python's parser goes is not read."""
    if not body:
        return None, None
    try:
        return json.loads(body), None
    except UnicodeDecodeError:
        try:
            return json.loads(body.decode("utf-8", "replace")), "the body was not UTF-8"
        except (ValueError, RecursionError):
            return None, None
    except (ValueError, RecursionError):
        return None, None


def parse_size(text: str, option: str) -> int:
    """'32MiB', '512k', '1048576' -> bytes (K/M/G are powers of 1024)."""
    units = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    raw = str(text).strip().lower().removesuffix("b").removesuffix("i")
    number, unit = (raw[:-1], raw[-1]) if raw[-1:] in units else (raw, "")
    try:
        value = int(float(number) * units[unit])
    except ValueError:
        value = 0
    if value < 1:
        raise FtuiError(f"{option} {text!r} is not a size", f"e.g. {option} 32MiB")
    return value


def parse_listen(listen: str, option: str = "--listen") -> tuple[str, int]:
    """HOST:PORT (IPv6 in brackets; PORT alone means 127.0.0.1) as (host, port)."""
    fix = f"e.g. {option} 127.0.0.1:11435 (port 0 picks a free one)"
    host, sep, port = listen.strip().rpartition(":")
    if not sep and listen.strip().isdigit():
        host, port = "127.0.0.1", listen.strip()
    if not sep and not port.isdigit():
        raise FtuiError(f"{option} {listen!r} is not HOST:PORT", fix)
    if not port.isdigit() or int(port) > 65535:
        raise FtuiError(f"{option} {listen!r}: port {port!r} is not a number from 0 to 65535",
                        fix)
    host = host or "127.0.0.1"
    if host.startswith("[") != host.endswith("]"):
        raise FtuiError(f"{option} {listen!r}: unbalanced brackets around the address",
                        f"IPv6 goes in brackets: {option} [::1]:11435")
    bare = host.strip("[]")
    looks_ip = host.startswith("[") or all(c.isdigit() or c == "." for c in bare)
    if looks_ip:
        try:
            ipaddress.ip_address(bare)
        except ValueError:
            raise FtuiError(f"{option} {listen!r}: {bare!r} is not an IP address", fix) from None
    return bare, int(port)


def check_listen(listen: str, token: str | None) -> tuple[str, int]:
    """(host, port) to bind, or why not: beyond loopback only with a token."""
    host, port = parse_listen(listen)
    if not is_loopback(host) and not token:
        raise FtuiError(f"binding to {host} exposes the gateway beyond this machine without a "
                        "token", "pass --token SECRET (clients send Authorization: Bearer "
                        "SECRET), or listen on 127.0.0.1")
    return host, port


def serve(store: Store, listen: str, upstream: str, *, token: str | None = None,
          fallback: str | None = None, max_body: int = MAX_BODY,
          max_message: int = MAX_MESSAGE, spill_dir: Path | None = None,
          teams: dict[str, str] | None = None, print_fn=print) -> None:
    """Run the gateway until ctrl+c (or SIGTERM); on exit the log queue is written out (to a
    file in `spill_dir` if the store will not take it within a minute). `teams` (user id ->
    team) defaults to config.toml's [teams], read again when the file changes."""
    from ftui.config import load_settings, team_map

    host, port = check_listen(listen, token)
    config_file = None
    if teams is None:  # from config.toml, read again when it changes
        settings = load_settings()
        teams, config_file = team_map(settings.extra), settings.config_file
    gateway = Gateway(store, upstream, token=token, fallback=fallback, max_body=max_body,
                      max_message=max_message, spill_dir=spill_dir, teams=teams,
                      config_file=config_file)
    asyncio.run(_serve(gateway, host, port, upstream, print_fn))


async def _serve(gateway: Gateway, host: str, port: int, upstream: str, print_fn) -> None:
    import signal
    import sys

    runner = web.AppRunner(gateway.app(), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as err:
            raise FtuiError(f"cannot listen on {host}:{port}: {err.strerror or err}",
                            "pick another address or port (--listen 127.0.0.1:0 picks a free "
                            "port), or stop what is using it") from None
        bound = site._server.sockets[0].getsockname()  # the port really bound (0 picks one)
        shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        print_fn(f"ftui gateway on http://{shown}:{bound[1]} -> {upstream}; point the chat "
                 "app's OLLAMA_HOST at it (Prometheus: /metrics). ctrl+c stops (queued logs "
                 "are written first).")
        sys.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.warning("stopping: writing %d queued records", gateway.writer.queue.qsize())
    finally:
        await runner.cleanup()  # closes the writer: the queue is written out
