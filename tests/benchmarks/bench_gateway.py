"""Gateway overhead: the same requests direct to an upstream stand-in and through `ftui proxy`,
in one run, interleaved (so drift hits both sides alike).

Three processes on 127.0.0.1: a fast aiohttp stand-in of Ollama's /api/chat (a fixed reply,
non-streaming or 8 NDJSON chunks 2 ms apart), `ftui proxy` with logging into a fresh SQLite
store, and this client. Figures: added latency p50/p99 (non-streaming chat), added time to the
first streamed chunk (p50), and sustained requests/s through the gateway with 32 concurrent
clients. Targets (issue 6): p50 <= 2 ms, p99 <= 10 ms, first chunk <= 5 ms, >= 300 req/s. At the
end, every request must be in the store (nothing lost when the proxy stops).

    python tests/benchmarks/bench_gateway.py [--requests 600] [--seconds 5]
    python tests/benchmarks/bench_gateway.py --kill9 5 --seconds 3   # loss on kill -9
    python tests/benchmarks/bench_gateway.py --memory 1024   # memory: 1 GiB blob, 1 GiB chat
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

UPSTREAM = textwrap.dedent('''
    import asyncio, json, sys
    from aiohttp import web
    REPLY = {"model": "m", "created_at": "2026-11-25T00:00:00Z", "done": True,
             "message": {"role": "assistant", "content": "Paris is the capital of France."},
             "prompt_eval_count": 12, "eval_count": 7, "total_duration": 1000}
    async def chat(request):
        body = await request.json()
        if body.get("stream") is False:
            return web.json_response(REPLY)
        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await resp.prepare(request)
        for word in "Paris is the capital of France .".split():
            await resp.write((json.dumps({"model": "m", "done": False, "message": {
                "role": "assistant", "content": word + " "}}) + "\\n").encode())
            await asyncio.sleep(0.002)
        await resp.write((json.dumps({**REPLY, "message": {"role": "assistant",
                                                           "content": ""}}) + "\\n").encode())
        await resp.write_eof()
        return resp
    async def blob(request):  # read and drop, as it arrives
        size = 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
        return web.json_response({"size": size}, status=201)
    app = web.Application()
    app.router.add_post("/api/chat", chat)
    app.router.add_post("/api/blobs/{digest}", blob)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
''')

BODY = {"model": "m", "messages": [{"role": "user", "content": "Capital of France?"}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.post(url + "/api/chat", json={**BODY, "stream": False}, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))]


def latency(client: httpx.Client, url: str) -> float:
    t = time.perf_counter()
    r = client.post(url + "/api/chat", json={**BODY, "stream": False})
    r.read()
    assert r.status_code == 200, r.text
    return (time.perf_counter() - t) * 1000


def first_chunk(client: httpx.Client, url: str) -> float:
    t = time.perf_counter()
    with client.stream("POST", url + "/api/chat", json=BODY) as r:
        chunks = r.iter_raw()
        next(chunks)
        first = (time.perf_counter() - t) * 1000
        for _ in chunks:
            pass
    return first


async def throughput(url: str, seconds: float, concurrency: int = 32) -> tuple[int, float]:
    import aiohttp

    done = 0
    stop = time.perf_counter() + seconds
    payload = json.dumps({**BODY, "stream": False})
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < stop:
                async with session.post(url + "/api/chat", data=payload) as r:
                    await r.read()
                    assert r.status == 200
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done, time.perf_counter() - start


async def traffic_until_killed(url: str, proxy: subprocess.Popen, seconds: float,
                               concurrency: int = 32) -> dict:
    """Chats from `concurrency` clients and ratings from one more, until kill -9 of the proxy
    after `seconds`. Returns when each answered chat finished and which ratings were acked."""
    import random

    import aiohttp

    answered: dict[str, float] = {}  # uid -> when its reply had fully arrived
    acked: dict[str, int] = {}
    killed_at = [0.0]
    payload = json.dumps({**BODY, "stream": False})
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async def chatter() -> None:
            while not killed_at[0]:
                try:
                    async with session.post(url + "/api/chat", data=payload) as r:
                        await r.read()
                        if r.status == 200:
                            answered[r.headers["X-FTUI-Interaction-Id"]] = time.perf_counter()
                except aiohttp.ClientError:
                    return

        async def rater() -> None:
            rng = random.Random(0)
            while not killed_at[0]:
                old = [u for u, t in answered.items() if time.perf_counter() - t > 0.2]
                if not old:
                    await asyncio.sleep(0.01)
                    continue
                uid, rating = rng.choice(old), rng.randint(1, 5)
                try:
                    async with session.post(url + "/ftui/feedback", json={
                            "interaction_id": uid, "rating": rating}) as r:
                        if r.status == 200:
                            acked[uid] = rating
                except aiohttp.ClientError:
                    return

        async def killer() -> None:
            await asyncio.sleep(seconds)
            proxy.send_signal(signal.SIGKILL)
            killed_at[0] = time.perf_counter()

        await asyncio.gather(killer(), rater(), *(chatter() for _ in range(concurrency)))
    return {"answered": answered, "acked": acked, "killed_at": killed_at[0]}


def kill9(rounds: int, seconds: float) -> None:
    """How much kill -9 of the proxy loses: interactions (batched: those still queued) and
    ratings (none may be lost: /ftui/feedback commits before it answers ok)."""
    up_port = free_port()
    up = subprocess.Popen([sys.executable, "-c", UPSTREAM, str(up_port)])
    direct = f"http://127.0.0.1:{up_port}"
    out = []
    try:
        wait_up(direct)
        for i in range(rounds):
            tmp = Path(tempfile.mkdtemp(prefix="ftui-bench-kill-"))
            db, port = tmp / "ftui.db", free_port()
            gw = subprocess.Popen([sys.executable, "-m", "ftui", "--db", str(db), "proxy",
                                   "--listen", f"127.0.0.1:{port}", "--upstream", direct],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            via = f"http://127.0.0.1:{port}"
            wait_up(via)
            got = asyncio.run(traffic_until_killed(via, gw, seconds + i))
            gw.wait(30)
            con = sqlite3.connect(db)
            stored = dict(con.execute("select uid, rating from interaction"))
            con.close()
            lost = [u for u in got["answered"] if u not in stored]
            ages = sorted((got["killed_at"] - got["answered"][u]) * 1000 for u in lost)
            bad = [u for u, r in got["acked"].items() if stored.get(u) != r]
            out.append({"answered": len(got["answered"]), "lost": len(lost),
                        "oldest_lost_ms": round(ages[-1], 1) if ages else 0.0,
                        "ratings_acked": len(got["acked"]), "ratings_lost": len(bad)})
            print(json.dumps(out[-1]))
    finally:
        up.terminate()
        up.wait(10)
    print(json.dumps({"rounds": rounds, "max_lost": max(o["lost"] for o in out),
                      "max_oldest_lost_ms": max(o["oldest_lost_ms"] for o in out),
                      "ratings_lost": sum(o["ratings_lost"] for o in out)}))


def memory(mib: int) -> None:
    """The proxy's peak memory while a blob of `mib` MiB streams through it and a chat body of
    the same size is refused (413, over --max-body)."""
    import threading

    import psutil

    tmp = Path(tempfile.mkdtemp(prefix="ftui-bench-mem-"))
    up_port, port = free_port(), free_port()
    up = subprocess.Popen([sys.executable, "-c", UPSTREAM, str(up_port)])
    gw = subprocess.Popen([sys.executable, "-m", "ftui", "--db", str(tmp / "ftui.db"), "proxy",
                           "--listen", f"127.0.0.1:{port}", "--upstream",
                           f"http://127.0.0.1:{up_port}"], stdout=subprocess.DEVNULL)
    via = f"http://127.0.0.1:{port}"
    try:
        wait_up(f"http://127.0.0.1:{up_port}")
        wait_up(via)
        proc = psutil.Process(gw.pid)
        before, peak, done = proc.memory_info().rss, [0], threading.Event()

        def watch() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], proc.memory_info().rss)
                time.sleep(0.01)

        threading.Thread(target=watch, daemon=True).start()

        def body():
            for _ in range(mib):
                yield b"x" * (1 << 20)

        blob = httpx.post(via + "/api/blobs/sha256:" + "0" * 64, content=body(), timeout=600)
        chat = httpx.post(via + "/api/chat", content=body(), timeout=600)
        done.set()
    finally:
        gw.send_signal(signal.SIGINT)
        gw.wait(60)
        up.terminate()
        up.wait(10)
    print(json.dumps({"mib": mib, "blob_status": blob.status_code, "streamed_mib":
                      blob.json()["size"] / 2 ** 20, "chat_status": chat.status_code,
                      "rss_before_mib": round(before / 2 ** 20),
                      "rss_peak_mib": round(peak[0] / 2 ** 20)}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=600)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--kill9", type=int, metavar="ROUNDS", help="instead: kill -9 the proxy "
                    "under load ROUNDS times and count what was lost")
    ap.add_argument("--memory", type=int, metavar="MIB", help="instead: peak proxy memory "
                    "while MIB MiB of blob stream through and a chat that large is refused")
    args = ap.parse_args()
    if args.memory:
        memory(args.memory)
        return
    if args.kill9:
        kill9(args.kill9, args.seconds)
        return
    tmp = Path(tempfile.mkdtemp(prefix="ftui-bench-gw-"))
    up_port, gw_port = free_port(), free_port()
    up = subprocess.Popen([sys.executable, "-c", UPSTREAM, str(up_port)])
    db = tmp / "ftui.db"
    env = {**os.environ, "FTUI_HOME": str(tmp)}
    gw = subprocess.Popen([sys.executable, "-m", "ftui", "--db", str(db), "proxy", "--listen",
                           f"127.0.0.1:{gw_port}", "--upstream", f"http://127.0.0.1:{up_port}"],
                          env=env, stdout=subprocess.DEVNULL)
    direct, via = f"http://127.0.0.1:{up_port}", f"http://127.0.0.1:{gw_port}"
    sent = 0
    try:
        wait_up(direct)
        wait_up(via)
        sent += 1
        with httpx.Client(timeout=30) as client:
            for _ in range(50):  # warm-up, both sides
                latency(client, direct)
                latency(client, via)
            sent += 50
            d_lat, g_lat, d_first, g_first = [], [], [], []
            for _ in range(args.requests):
                d_lat.append(latency(client, direct))
                g_lat.append(latency(client, via))
            for _ in range(max(args.requests // 3, 50)):
                d_first.append(first_chunk(client, direct))
                g_first.append(first_chunk(client, via))
            sent += args.requests + max(args.requests // 3, 50)
        d_n, d_s = asyncio.run(throughput(direct, args.seconds))
        g_n, g_s = asyncio.run(throughput(via, args.seconds))
        sent += g_n
    finally:
        gw.send_signal(signal.SIGINT)  # a clean stop: the proxy writes out its queue
        gw.wait(120)
        up.terminate()
        up.wait(10)
    logged = sqlite3.connect(db).execute(
        "select count(*) from interaction where source = 'gateway'").fetchone()[0]
    rows = [
        ("non-streaming p50 (ms)", pct(d_lat, 50), pct(g_lat, 50)),
        ("non-streaming p99 (ms)", pct(d_lat, 99), pct(g_lat, 99)),
        ("first chunk p50 (ms)", pct(d_first, 50), pct(g_first, 50)),
        ("requests/s (32 clients)", d_n / d_s, g_n / g_s),
    ]
    print(f"{'':<26}{'direct':>10}{'gateway':>10}{'added':>10}")
    for name, d, g in rows:
        print(f"{name:<26}{d:>10.2f}{g:>10.2f}{g - d:>10.2f}")
    print(f"logged {logged} of {sent} requests sent through the gateway")
    result = {"added_p50_ms": pct(g_lat, 50) - pct(d_lat, 50),
              "added_p99_ms": pct(g_lat, 99) - pct(d_lat, 99),
              "added_first_chunk_p50_ms": pct(g_first, 50) - pct(d_first, 50),
              "gateway_rps": g_n / g_s, "direct_rps": d_n / d_s,
              "rps_ratio": (g_n / g_s) / (d_n / d_s), "logged": logged, "sent": sent}
    result["meets_targets"] = (result["added_p50_ms"] <= 2 and result["added_p99_ms"] <= 10
                               and result["added_first_chunk_p50_ms"] <= 5
                               and result["gateway_rps"] >= 300 and logged == sent)
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    main()
