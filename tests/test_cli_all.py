"""Every `ftui` command, walked from the real argparse tree: each one's --help works, and each
leaf command has a happy path that runs here, in order, on one demo store with a real `tiny`
adapter and the stand-in Ollama on 127.0.0.1.

Adding a leaf command? Add its case to HAPPY (in the order it can run: after what it needs);
test_every_leaf_has_a_happy_path fails until you do."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from conftest import write_lines
from ollama_standin import StandIn, llama_info

from ftui.cli import build_parser, main
from ftui.curate import DatasetSpec, build_dataset
from ftui.demo import load_demo
from ftui.store import open_store

JUDGE = "judge:7b"
TINY_BASE = "tiny-base:latest"  # tiny as Ollama would name it (deploy checks its shape)
GOOD = {"messages": [{"role": "user", "content": "What is 2+2?"},
                     {"role": "assistant", "content": "4."}]}


def tree(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(path, parser, is_leaf) for every command under `parser`."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if path:
        yield path, parser, not subs
    for action in subs:
        for name, sub in action.choices.items():
            yield from tree(sub, (*path, name))


def leaves() -> set[tuple[str, ...]]:
    return {path for path, _, leaf in tree(build_parser()) if leaf}


# ---------------------------------------------------------------- the world the cases run in


@dataclass
class World:
    db: str
    store: object
    tmp: Path
    home: Path
    ollama: StandIn

    def refs(self) -> dict[str, str]:
        """The ids the cases name, looked up now (earlier cases create them)."""
        from sqlmodel import select

        from ftui.store.models import Dataset, Experiment, RegisteredModel, TrainingRun

        with self.store.session() as s:
            datasets = list(s.exec(select(Dataset.id).order_by(Dataset.id)))
            run_ids = list(s.exec(select(TrainingRun.id).order_by(TrainingRun.id)))
            models = list(s.exec(select(RegisteredModel).order_by(RegisteredModel.id)))
            experiments = list(s.exec(select(Experiment.id).order_by(Experiment.id)))

        def model(pred) -> str:
            return next((str(m.id) for m in models if pred(m)), "none")

        return {"db": self.db, "tmp": str(self.tmp), "host": self.ollama.url,
                "dataset": str(datasets[0]), "dataset2": str(datasets[-1]),
                "run": str(run_ids[0]) if run_ids else "none",
                "queued": str(run_ids[-1]) if run_ids else "none",
                "adapter": model(lambda m: m.kind == "adapter"),
                "merged": model(lambda m: m.kind == "merged"),
                "ollama": model(lambda m: m.name == "llama"),
                "experiment": str(experiments[0]) if experiments else "none"}


def scripted_judge(body: dict) -> str:
    """A judge that reads the prompt: pairwise, it prefers the answer that names Paris (in both
    orders); alone, every criterion scores 4."""
    prompt = body["messages"][-1]["content"]
    if "<answer_1>" in prompt:
        first = prompt.split("<answer_1>")[1].split("</answer_1>")[0]
        return json.dumps({"winner": "1" if "Paris" in first else "2", "rationale": "named it"})
    keys = list(body["format"]["required"]) if isinstance(body.get("format"), dict) else [
        "relevance", "completeness", "accuracy", "clarity", "helpfulness"]
    return json.dumps({k: {"score": 4, "rationale": "fine"} for k in keys})


@pytest.fixture
def world(tmp_path, home, monkeypatch):
    import torch

    (home / "config.toml").write_text(  # a small regression gate (promotion runs it)
        "[gate]\ngeneral_items = 4\nvalidation_limit = 2\nmax_new_tokens = 4\n"
        "general_max_new_tokens = 4\n")
    monkeypatch.setenv("FTUI_HOME", str(home))
    monkeypatch.delenv("FTUI_DATABASE_URL", raising=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny's matrices are too small to share on a busy machine
    db = str(tmp_path / "ftui.db")
    store = open_store(f"sqlite:///{db}")
    load_demo(store)
    build_dataset(store, "base", DatasetSpec(min_rating=4))
    write_lines(tmp_path / "good.jsonl", [json.dumps(GOOD)])
    models = {"llama3.2:3b": "Paris is the capital of France.", TINY_BASE: "hello",
              JUDGE: ""}
    with StandIn(models=models, model_info={TINY_BASE: llama_info(64, 2)}) as ollama:
        ollama.scripted[JUDGE] = scripted_judge
        ollama.digests[JUDGE] = "sha256:" + "a" * 64
        monkeypatch.setenv("OLLAMA_HOST", ollama.url)
        yield World(db=db, store=store, tmp=tmp_path, home=home, ollama=ollama)
    store.close()
    torch.set_num_threads(threads)


# ---------------------------------------------------------------- steps some cases need


def queue_a_run(w: World) -> None:
    from ftui.train.config import RunConfig
    from ftui.train.runs import create_run

    create_run(w.store, int(w.refs()["dataset"]), "tiny", RunConfig(max_steps=1).validate())


def set_status(status: str) -> Callable[[World], None]:
    """As a worker would: the queued run is running (beating now), or it ended cancelled."""
    def step(w: World) -> None:
        from ftui.store.models import utcnow
        from ftui.train.runs import update_run

        update_run(w.store, int(w.refs()["queued"]), status=status, heartbeat_at=utcnow())
    return step


def evaluate_the_ollama_model(w: World) -> None:
    from ftui.registry.evaluate import evaluate

    r = w.refs()
    evaluate(w.store, int(r["ollama"]), home=w.home, host=w.ollama.url, limit=1,
             max_new_tokens=2, dataset_id=int(r["dataset"]))


def run_ui(w: World, argv: list[str], monkeypatch) -> tuple[int, str, str]:
    """The real app, headless: it starts on the store, shows its first screen, and quits."""
    from ftui.screens.app import FtuiApp

    shown: list[str] = []
    original = FtuiApp.run

    async def look_and_quit(pilot) -> None:
        await pilot.pause()
        shown.append(type(pilot.app.screen).__name__)
        pilot.app.exit()

    monkeypatch.setattr(FtuiApp, "run", lambda self, **kw: original(
        self, headless=True, size=(100, 30), auto_pilot=look_and_quit))
    code = main(argv)
    return code, " ".join(shown), ""


def run_proxy(w: World, argv: list[str], monkeypatch) -> tuple[int, str, str]:
    """`ftui proxy` serves until SIGTERM: one request through it from a thread, which then
    sends the signal (the gateway installs its handler before it answers anything)."""
    with socket.socket() as probe:  # a free port, so the client knows where to knock
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    answered: list[httpx.Response] = []
    done = threading.Event()

    def client() -> None:
        while not done.is_set() and not answered:
            try:
                answered.append(httpx.get(f"http://127.0.0.1:{port}/api/tags", timeout=10))
            except httpx.TransportError:
                time.sleep(0.05)
        if answered:
            os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    try:
        code = main([*argv, "--listen", f"127.0.0.1:{port}", "--upstream", w.ollama.url])
    finally:
        done.set()
        thread.join(30)
    ok = answered and answered[0].status_code == 200 and "llama3.2:3b" in answered[0].text
    return code, "" if ok else f"no answer through the gateway: {answered}", ""


def end_the_cycle_rolled_back(w: World) -> None:
    """As if autopilot cycle 1 had rolled its candidate (the adapter) back."""
    from ftui.autopilot import state

    model = w.refs()["adapter"]
    state.update_cycle(w.store, 1, status="finished", outcome="rolled_back", model_id=int(model))


def fail_the_cycle(w: World) -> None:
    """As if autopilot cycle 1 had failed building its dataset."""
    from ftui.autopilot import state

    state.update_cycle(w.store, 1, status="failed", outcome="failed", stage="dataset",
                       error="disk full")


# ---------------------------------------------------------------- the cases


@dataclass
class Case:
    argv: list[str]  # after `ftui --db DB`; {name} is filled from World.refs()
    code: int = 0
    before: Callable[[World], None] | None = None
    run: Callable | None = None  # (world, argv, monkeypatch) -> (code, out, err); else main()
    words: list[str] = field(default_factory=list)  # the answer must say these


TRAIN_FAST = ["--set", "max_steps=1", "--set", "save_steps=1", "--set", "eval_steps=1",
              "--set", "max_seq_len=128", "--set", "batch_size=2"]

# In the order they run: a case may use what an earlier one made.
HAPPY: dict[tuple[str, ...], Case] = {
    ("ui",): Case(["ui"], run=run_ui, words=["Screen"]),
    ("import",): Case(["import", "{tmp}/good.jsonl"], words=["imported 1"]),
    ("demo",): Case(["demo"], words=["already present"]),
    ("stats",): Case(["stats"], words=["interactions:"]),
    ("monitor",): Case(["monitor", "--by", "mode", "--period", "day"], words=["p95", "standard"]),
    ("export",): Case(["export", "{tmp}/all.jsonl"], words=["exported"]),
    ("dataset", "build"): Case(["dataset", "build", "wide", "--min-rating", "0",
                                "--include-unrated"], words=["built dataset"]),
    ("dataset", "list"): Case(["dataset", "list"], words=["wide"]),
    ("dataset", "show"): Case(["dataset", "show", "{dataset}"], words=["rules:"]),
    ("dataset", "export"): Case(["dataset", "export", "{dataset}", "--format", "openai",
                                 "--out", "{tmp}/ds"], words=["train"]),
    ("dataset", "diff"): Case(["dataset", "diff", "{dataset}", "{dataset2}"], words=["added"]),
    ("dataset", "pairs"): Case(["dataset", "pairs", "--out", "{tmp}/pairs.jsonl"],
                               words=["preference pairs"]),
    ("train",): Case(["train", "--dataset", "{dataset}", "--base", "tiny", *TRAIN_FAST],
                     words=["completed"]),
    ("runs", "list"): Case(["runs", "list"], words=["completed"]),
    ("runs", "show"): Case(["runs", "show", "{run}"], words=["adapter dir"]),
    ("runs", "logs"): Case(["runs", "logs", "{run}"], words=["loading base model tiny"]),
    ("runs", "cancel"): Case(["runs", "cancel", "{queued}"], before=queue_a_run,
                             words=["cancelled"]),
    ("runs", "resume"): Case(["runs", "resume", "{queued}", "--queue-only"], words=["queued"]),
    ("runs", "pause"): Case(["runs", "pause", "{queued}"], before=set_status("running"),
                            words=["running"]),
    ("runs", "unpause"): Case(["runs", "unpause", "{queued}"], words=["running"]),
    ("runs", "delete"): Case(["runs", "delete", "{queued}", "--yes"],
                             before=set_status("cancelled"), words=["deleted run"]),
    ("worker",): Case(["worker", "--once"], words=["ran 0 run(s)"]),
    ("workers",): Case(["workers"], words=["stopped"]),  # those `train` and `worker` ran
    ("db", "current"): Case(["db", "current"], words=["up to date"]),
    ("db", "upgrade"): Case(["db", "upgrade"], words=["nothing to do"]),
    ("models", "list"): Case(["models", "list"], words=["adapter"]),
    ("models", "register"): Case(["models", "register", "--kind", "ollama", "--ollama",
                                  "llama3.2:3b", "--name", "llama", "--ollama-host", "{host}"],
                                 words=["llama"]),
    ("models", "show"): Case(["models", "show", "{adapter}"], words=["<- run", "run id"]),
    ("models", "evaluate"): Case(["models", "evaluate", "{adapter}", "--limit", "1",
                                  "--max-new-tokens", "2"], words=["perplexity"]),
    ("models", "compare"): Case(["models", "compare", "{adapter}", "{ollama}"],
                                before=evaluate_the_ollama_model, words=["better"]),
    ("models", "gate"): Case(["models", "gate", "{adapter}"], words=["gate passed"]),
    ("models", "promote"): Case(["models", "promote", "{adapter}", "--stage", "staging"],
                                words=["staging"]),
    ("models", "demote"): Case(["models", "demote", "{adapter}"], words=["candidate"]),
    ("models", "merge"): Case(["models", "merge", "{adapter}", "--name", "merged"],
                              words=["merged into"]),
    ("models", "export"): Case(["models", "export", "{adapter}", "--gguf", "--out",
                                "{tmp}/gguf"], words=["GGUF LoRA"]),
    ("models", "deploy"): Case(["models", "deploy", "{adapter}", "--as", "mine:v1", "--from",
                                TINY_BASE, "--ollama-host", "{host}"],
                               words=["deployed as mine:v1"]),
    ("models", "archive"): Case(["models", "archive", "{merged}"], words=["archived"]),
    ("models", "delete"): Case(["models", "delete", "{merged}", "--yes", "--remove-files"],
                               words=["deleted model"]),
    ("chat",): Case(["chat", "llama3.2:3b", "--prompt", "hi", "--ollama-host", "{host}"],
                    words=["Paris"]),
    ("ab", "create"): Case(["ab", "create", "exp", "--alias", "assistant", "--a", "llama3.2:3b",
                            "--b", TINY_BASE, "--salt", "s"], words=["exp"]),
    ("ab", "list"): Case(["ab", "list"], words=["exp"]),
    ("ab", "start"): Case(["ab", "start", "{experiment}"], words=["running"]),
    ("ab", "split"): Case(["ab", "split", "{experiment}", "0.4"], words=["B share 40%"]),
    ("ab", "assign"): Case(["ab", "assign", "{experiment}", "user-1"], words=["user-1 -> arm"]),
    ("ab", "report"): Case(["ab", "report", "{experiment}"], words=["verdict:"]),
    ("ab", "stop"): Case(["ab", "stop", "{experiment}"], words=["stopped"]),
    # `ftui demo` loads the demo's arena votes (issue 12): 93 decisive ones, two models
    ("ab", "pairs"): Case(["ab", "pairs", "--out", "{tmp}/arena.jsonl"], words=["wrote 93"]),
    ("ab", "ranking"): Case(["ab", "ranking"], words=["smollm2:135m", "llama3.2:3b"]),
    ("ab", "promote"): Case(["ab", "promote", "{experiment}", "--arm", "A", "--yes"],
                            words=["is production in general"]),
    ("proxy",): Case(["proxy"], run=run_proxy, words=["ftui gateway on http://127.0.0.1:"]),
    ("judge", "run"): Case(["judge", "run", "--judge", JUDGE, "--include-rated", "--limit",
                            "5"], words=["judged 5"]),
    ("judge", "agreement"): Case(["judge", "agreement"], words=["agree"]),
    ("judge", "failures"): Case(["judge", "failures"], words=["no failed judgements"]),
    ("judge", "compare"): Case(["judge", "compare", "llama3.2:3b", TINY_BASE, "--judge", JUDGE,
                                "--limit", "1"], words=["A (llama3.2:3b) wins 1"]),
    ("judge", "experiment"): Case(["judge", "experiment", "{experiment}"],
                                  words=["judge vs people", "verdict on JUDGED traffic"]),
    ("judge", "arena"): Case(["judge", "arena", "{experiment}", "--judge", JUDGE, "--limit",
                              "1"], words=["1 votes recorded as judge:judge:7b"]),
    ("autopilot", "init"): Case(["autopilot", "init"], words=["autopilot.toml"]),
    ("autopilot", "once"): Case(["autopilot", "once", "--dry-run"], words=["would: start"]),
    ("autopilot", "pause"): Case(["autopilot", "pause"], words=["autopilot paused"]),
    ("autopilot", "resume"): Case(["autopilot", "resume"], words=["autopilot resumed"]),
    ("autopilot", "run"): Case(["autopilot", "run", "--max-steps", "1"],
                               words=["cycle 1 started", "stopped after 1 step"]),
    ("autopilot", "status"): Case(["autopilot", "status"], words=["cycle 1", "trigger"]),
    ("autopilot", "undo"): Case(["autopilot", "undo", "1"], before=end_the_cycle_rolled_back,
                                words=["is a candidate again"]),
    ("autopilot", "retry"): Case(["autopilot", "retry", "1"], before=fail_the_cycle,
                                 words=["taken up again at dataset"]),
}


# ---------------------------------------------------------------- the tests


def test_every_leaf_has_a_happy_path():
    found = leaves()
    assert not found - set(HAPPY), f"add a HAPPY case for: {sorted(found - set(HAPPY))}"
    assert not set(HAPPY) - found, f"HAPPY names commands that are gone: {set(HAPPY) - found}"


def test_one_handler_per_leaf_and_none_for_groups():
    """Each leaf is answered by its own handler (declared with common.leaf), so no handler
    dispatches on an action name and reads flags only some leaves declare."""
    handlers: dict[object, tuple[str, ...]] = {}
    for path, parser, is_leaf in tree(build_parser()):
        handler = parser.get_default("handler")
        if not is_leaf:
            assert handler is None, path
            continue
        assert callable(handler), f"{path} was not declared with common.leaf"
        assert handler not in handlers, f"{path} and {handlers[handler]} share {handler}"
        handlers[handler] = path


def test_the_parser_imports_nothing_heavy():
    """Command modules import their libraries inside handlers: `ftui --help` answers at once."""
    heavy = ("torch", "transformers", "sqlalchemy", "sqlmodel", "textual", "aiohttp", "scipy",
             "httpx", "ollama")
    code = ("import sys; from ftui.cli import build_parser; build_parser(); "
            f"print([m for m in {heavy!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip() == "[]", f"imported while building the parser: {out}"


def test_every_command_answers_help(capsys):
    paths = [path for path, _, _ in tree(build_parser())]
    assert len(paths) > 50
    for path in [(), *paths]:
        with pytest.raises(SystemExit) as done:
            main([*path, "--help"])
        out = capsys.readouterr().out
        assert done.value.code == 0, path
        assert out.startswith(f"usage: {' '.join(('ftui', *path))} "), (path, out[:200])


def test_every_leaf_runs_its_happy_path(world, capsys, monkeypatch):
    failures, took = [], {}
    for path, case in HAPPY.items():
        if case.before:
            case.before(world)
        refs = world.refs()
        argv = ["--db", world.db, *(a.format(**refs) for a in case.argv)]
        capsys.readouterr()
        start = time.perf_counter()
        if case.run:
            code, out, err = case.run(world, argv, monkeypatch)
            captured = capsys.readouterr()
            out, err = out + captured.out, err + captured.err
        else:
            code = main(argv)
            out, err = capsys.readouterr()
        took[" ".join(path)] = round(time.perf_counter() - start, 2)
        missing = [w for w in case.words if w not in out + err]
        if code != case.code or missing or "Traceback" in err or "unexpected" in err:
            failures.append(f"ftui {' '.join(argv[2:])}: exit {code} (want {case.code}), "
                            f"missing {missing}\n  out: {out[-600:]}\n  err: {err[-600:]}")
    slowest = sorted(took.items(), key=lambda kv: -kv[1])[:6]
    print(f"happy paths: {sum(took.values()):.1f} s in all; slowest {slowest}")
    assert not failures, "\n".join(failures) + f"\nslowest: {slowest}"
