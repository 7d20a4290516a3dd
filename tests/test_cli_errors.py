"""The CLI under faults and hostile input: a cause line and a `fix:` line, exit 2, never a
traceback (issue 10). Subprocesses where the failure is about the process itself (pipes,
FIFOs, kill -9, a full disk); `main([...])` elsewhere, so a traceback fails the test."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from conftest import write_lines
from ollama_standin import StandIn

from ftui.cli import build_parser, main
from ftui.curate import DatasetSpec, build_dataset
from ftui.demo import load_demo
from ftui.ingest import import_files
from ftui.ingest import importer as importer_module
from ftui.store import open_store
from ftui.train import runs
from ftui.train.config import RunConfig

GOOD = {"messages": [{"role": "user", "content": "What is 2+2?"},
                     {"role": "assistant", "content": "4."}]}
DEEP = 5000


def ftui(*argv: str, env: dict | None = None, timeout: float = 120, **kw):
    """`python -m ftui ARGV` in a subprocess."""
    return subprocess.run([sys.executable, "-m", "ftui", *argv], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, **kw)


def assert_clear(code: int, err: str, expected_code: int = 2) -> None:
    assert code == expected_code, err
    assert "Traceback" not in err and "fix:" in err, err


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("FTUI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FTUI_DATABASE_URL", raising=False)


# ------------------------------------------------------------- 1. hostile JSON


def _hostile_files(tmp_path: Path) -> dict[str, Path]:
    good = json.dumps(GOOD)
    files = {
        "deep_array.json": "[" * DEEP + "]" * DEEP,
        "deep_object.json": '{"a":' * DEEP + "1" + "}" * DEEP,
        "deep_in_array.json": '[{"messages": ' + "[" * DEEP + "]" * DEEP + "}]",
        "big_int.json": json.dumps([GOOD])[:-2] + ', "rating": ' + "9" * 5000 + "}]",
        "big_int.jsonl": good[:-1] + ', "rating": ' + "9" * 5000 + "}\n",
        "deep_line.jsonl": '{"messages":' + "[" * DEEP + "]" * DEEP + "}\n",
    }
    out = {}
    for name, text in files.items():
        out[name] = tmp_path / name
        out[name].write_text(text)
    return out


def test_deep_nesting_and_huge_integers_are_refused_with_a_fix(tmp_path, capsys):
    db = str(tmp_path / "s.db")
    for name, path in _hostile_files(tmp_path).items():
        code = main(["--db", db, "import", str(path)])
        err = capsys.readouterr().err
        assert_clear(code, err)
        assert ("nested too deeply" in err or "number too large" in err), (name, err)


def test_a_multi_file_import_goes_on_after_a_hostile_file(tmp_path, capsys):
    db = str(tmp_path / "s.db")
    good = write_lines(tmp_path / "good.jsonl", [json.dumps(GOOD)])
    hostile = list(_hostile_files(tmp_path).values())
    assert main(["--db", db, "import", *map(str, hostile), str(good), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["imported"] == 1 and out["skipped"] == len(hostile)


def test_a_deep_first_line_is_one_skipped_line_and_the_rest_comes_in(tmp_path, store):
    other = dict(GOOD, messages=[{"role": "user", "content": "hi"},
                                 {"role": "assistant", "content": "hello"}])
    path = write_lines(tmp_path / "f.jsonl", ['{"a":' * DEEP + "1" + "}" * DEEP,
                                             json.dumps(GOOD), json.dumps(other)])
    report = import_files(store, [path])
    assert (report.imported, report.skipped) == (2, 1)
    assert report.errors[0]["where"] == "f.jsonl:1"
    assert "nested too deeply" in report.errors[0]["reason"]


@pytest.mark.parametrize("depth", [200, 900, 1000, 1030, 3000])
def test_every_depth_is_a_record_error_never_a_crash(tmp_path, store, depth):
    content = "[" * depth + "]" * depth
    record = '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", ' \
             f'"content": "ok", "extra": {content}}}]}}'
    for name, text in (("a.jsonl", record + "\n"), ("b.json", f"[{record}]")):
        path = tmp_path / name
        path.write_text(text)
        report = import_files(store, [path])  # imported or skipped, never an exception
        assert report.imported + report.duplicates + report.skipped == 1


# ------------------------------------------------------------- 2. disk full


def _tmpfs(path: Path, size: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a tiny tmpfs (a real full disk) needs root and mount")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    return path


@pytest.fixture
def small_disk(tmp_path):
    mounted = []

    def make(size: str) -> Path:
        mounted.append(_tmpfs(tmp_path / f"disk{len(mounted)}", size))
        return mounted[-1]

    yield make
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_import_onto_a_full_disk_says_so(tmp_path, small_disk):
    disk = small_disk("1m")
    rows = [json.dumps({"messages": [{"role": "user", "content": f"q{i} " + "x" * 300},
                                     {"role": "assistant", "content": f"a{i} " + "y" * 300}]})
            for i in range(3000)]  # 2 MB: more than the disk holds
    path = write_lines(tmp_path / "many.jsonl", rows)
    done = ftui("--db", str(disk / "s.db"), "import", str(path), env={"FTUI_HOME": str(disk)})
    assert_clear(done.returncode, done.stderr)
    assert "disk is full" in done.stderr


def test_training_onto_a_full_disk_marks_the_run_failed(tmp_path, home, small_disk, monkeypatch,
                                                         capsys):
    built = tmp_path / "built.db"
    store = open_store(f"sqlite:///{built}")
    load_demo(store)
    version, _, _ = build_dataset(store, "d", DatasetSpec(min_rating=None, include_unrated=True,
                                                          max_examples=24))
    store.close()
    size = built.stat().st_size
    disk = small_disk(f"{(size + 300_000) // 1024}k")  # the store fits; a checkpoint does not
    shutil.copy(built, disk / "s.db")
    (disk / "models").symlink_to((home / "models").resolve())
    monkeypatch.setenv("FTUI_HOME", str(disk))
    code = main(["--db", str(disk / "s.db"), "train", "--dataset", str(version.id), "--base",
                 "tiny", "--set", "max_steps=3", "--set", "save_steps=2", "--set",
                 "eval_steps=100", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 2 and out["status"] == "failed", out
    assert "disk is full" in out["error"] and "fix:" in out["error"]
    assert "ftui runs resume" in out["error"]
    leftovers = [p for p in (disk / "runs" / f"run-{out['run_id']}").glob("checkpoint-*")
                 if not (p / "trainer_state.json").exists()]
    assert leftovers == []  # a half-written checkpoint would break the resume
    subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)  # space freed
    assert main(["--db", str(disk / "s.db"), "runs", "resume", str(out["run_id"]),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "completed"


# ------------------------------------------------------------- 3. a damaged store


def test_a_store_damaged_in_the_middle_is_named_with_a_fix(tmp_path, capsys):
    path = tmp_path / "s.db"
    store = open_store(f"sqlite:///{path}")
    load_demo(store)
    store.close()
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.seek(size // 2 - (size // 2) % 4096)
        f.write(b"\xde\xad\xbe\xef" * 4096)  # four pages of garbage
    code = main(["--db", str(path), "stats"])
    err = capsys.readouterr().err
    assert_clear(code, err)
    assert "damaged" in err and ".recover" in err


# ------------------------------------------------------------- 4. every command's arguments


def _leaves(parser: argparse.ArgumentParser, path: list[str]):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for action in subs:
        for name, sub in action.choices.items():
            yield from _leaves(sub, [*path, name])


def test_register_an_ollama_model_checks_it_on_the_given_host(tmp_path, capsys):
    db = str(tmp_path / "s.db")
    with StandIn() as ollama:
        code = main(["--db", db, "models", "register", "--kind", "ollama", "--ollama",
                     "llama3.2:3b", "--name", "llama", "--ollama-host", ollama.url, "--json"])
        assert code == 0, capsys.readouterr().err
        assert json.loads(capsys.readouterr().out)["ollama_name"] == "llama3.2:3b"
        code = main(["--db", db, "models", "register", "--kind", "ollama", "--ollama", "typo",
                     "--name", "t", "--ollama-host", ollama.url])
        assert_clear(code, capsys.readouterr().err)


# Values for the arguments a command declares, by destination.
VALUES = {"id": "1", "a": "1", "b": "2", "name": "thing", "dataset": "1", "base": "tiny",
          "alias": "chat", "unit": "user-1", "split": "0.5", "model": "llama3.2:3b",
          "ollama": "llama3.2:3b", "prompt": "hi", "set": "max_steps=1", "tail": "5",
          "examples": "1", "limit": "1", "max_new_tokens": "4", "min_gap": "1",
          "max_steps": "1", "cycles": "2"}  # autopilot run: one step, not until stopped
SKIP = {("ui",), ("proxy",), ("worker",)}  # serve or wait: covered by their own tests


def _arguments(parser, path, tmp_path, host) -> list[str]:
    """The leaf's positionals and every option it declares, filled with a plausible value."""
    argv, options = [], []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or action.dest == "json":
            continue
        value = (host if action.dest in ("ollama_host", "upstream") else
                 str(tmp_path / f"out-{'-'.join(path)}") if action.dest == "out" else
                 str(tmp_path / "good.jsonl") if action.dest == "files" else
                 action.choices[0] if action.choices else VALUES.get(action.dest))
        if action.dest == "kind" and "ollama" in (action.choices or ()):
            value = "ollama"  # models register: the path that read an undeclared --ollama-host
        if not action.option_strings:
            argv.append(value or "1")
        elif action.nargs == 0:
            if action.dest not in ("detach", "remove_files"):
                options.append(action.option_strings[0])
        elif value is not None:
            options += [action.option_strings[0], value]
    return [*path, *argv, *options]


def test_every_leaf_command_reads_only_the_arguments_it_declares(tmp_path, capsys):
    """Each command runs with every argument it declares, against a store that has a dataset,
    a run, a model and an experiment; it may refuse, but never with an AttributeError (the
    bug: `models register` read --ollama-host, declared on `archive`)."""
    db = str(tmp_path / "s.db")
    write_lines(tmp_path / "good.jsonl", [json.dumps(GOOD)])
    store = open_store(f"sqlite:///{db}")
    load_demo(store)
    version, _, _ = build_dataset(store, "d", DatasetSpec(min_rating=None, include_unrated=True))
    run = runs.create_run(store, version.id, "tiny", RunConfig(max_steps=1).validate())
    runs.request_cancel(store, run.id)
    with StandIn() as ollama:
        assert main(["--db", db, "models", "register", "--kind", "ollama", "--ollama",
                     "llama3.2:3b", "--name", "m1", "--ollama-host", ollama.url]) == 0
        assert main(["--db", db, "ab", "create", "e1", "--alias", "chat", "--a", "m1", "--b",
                     "llama3.2:3b", "--ollama-host", ollama.url]) == 0
        leaves = sorted(_leaves(build_parser(), []), key=lambda lp: "delete" in lp[0])
        ran = 0
        for path, parser in leaves:
            if tuple(path) in SKIP or (path[0] == "train"):
                continue
            argv = ["--db", db, *_arguments(parser, path, tmp_path, ollama.url)]
            capsys.readouterr()
            code = main(argv)
            err = capsys.readouterr().err
            assert "AttributeError" not in err and "unexpected" not in err, (argv, err)
            assert code in (0, 1, 2), (argv, code)
            ran += 1
    assert ran > 35
    store.close()


# ------------------------------------------------------------- 5. a closed pipe


def test_output_into_a_closed_pipe_ends_quietly(tmp_path):
    db = tmp_path / "s.db"
    load_demo(open_store(f"sqlite:///{db}"))
    proc = subprocess.Popen([sys.executable, "-m", "ftui", "--db", str(db), "export",
                             str(tmp_path / "out.jsonl")], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before a line is written (`| head -0`)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, err
    assert err == "" and (tmp_path / "out.jsonl").is_file()
    proc = subprocess.Popen([sys.executable, "-m", "ftui", "--db", str(db), "stats"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    assert proc.wait(timeout=60) == 141 and proc.stderr.read() == b""


# ------------------------------------------------------------- 6. a missing store


READERS = [["stats"], ["export", "out.jsonl"], ["dataset", "list"], ["dataset", "show", "1"],
           ["runs", "list"], ["runs", "show", "1"], ["models", "list"], ["models", "show", "1"],
           ["ab", "list"], ["ab", "report", "1"], ["dataset", "pairs", "--out", "p.jsonl"]]


@pytest.mark.parametrize("argv", READERS, ids=lambda a: " ".join(a))
def test_a_mistyped_db_is_refused_by_commands_that_read(tmp_path, capsys, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)  # nothing is written, but should it be: not into the checkout
    missing = tmp_path / "nonexistent" / "dir" / "x.db"
    code = main(["--db", str(missing), *argv])
    err = capsys.readouterr().err
    assert_clear(code, err)
    assert f"no store at {missing}" in err
    assert not missing.parent.parent.exists()  # no store, no folders


def test_import_creates_a_missing_store_and_says_so(tmp_path, capsys):
    good = write_lines(tmp_path / "good.jsonl", [json.dumps(GOOD)])
    target = tmp_path / "new" / "x.db"
    assert main(["--db", str(target), "import", str(good)]) == 0
    assert f"created a new store at {target}" in capsys.readouterr().err
    assert main(["--db", str(target), "import", str(good)]) == 0
    assert "created" not in capsys.readouterr().err  # only when it is new
    assert main(["--db", str(target), "stats", "--json"]) == 0


# ------------------------------------------------------------- 7. a password in --db


@pytest.mark.parametrize("url", [
    "postgresql://ftui:s3cr3t-pw@127.0.0.1:1/ftui",
    "postgresql+nosuchdriver://ftui:s3cr3t-pw@127.0.0.1:1/ftui",
    "mysql+nosuchdriver://ftui:s3cr3t-pw@127.0.0.1:1/ftui",
    "post gres://ftui:s3cr3t-pw@127.0.0.1:x/ftui",
])
def test_a_password_in_the_db_url_is_masked(capsys, url):
    code = main(["--db", url, "stats"])
    captured = capsys.readouterr()
    assert_clear(code, captured.err)
    assert "s3cr3t-pw" not in captured.err + captured.out
    assert "***" in captured.err


# ------------------------------------------------------------- 8. a FIFO


def test_a_fifo_is_refused_without_being_opened(tmp_path):
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    good = write_lines(tmp_path / "good.jsonl", [json.dumps(GOOD)])
    done = ftui("--db", str(tmp_path / "s.db"), "import", str(fifo), str(good), timeout=60)
    assert done.returncode == 1, done.stderr  # the other file came in
    assert "named pipe (FIFO), not a regular file" in done.stderr and "fix:" in done.stderr
    done = ftui("--db", str(tmp_path / "s.db"), "import", "/dev/zero", timeout=60)
    assert_clear(done.returncode, done.stderr)


# ------------------------------------------------------------- 9. kill -9 of an import

WORKER_SCRIPT = """
import os, sys, time
import ftui.ingest.importer as imp
from ftui.store import open_store
imp.PARALLEL_MIN_BYTES = 0                      # the parse worker even for a small file
imp.os.cpu_count = lambda: 2

def hang(self, rows):                           # the importer stops here, its worker alive
    import psutil
    kids = psutil.Process().children()
    print(" ".join(str(k.pid) for k in kids), flush=True)
    time.sleep(600)

imp._SqliteWriter.tuples = hang
imp.import_files(open_store(sys.argv[1]), [sys.argv[2]])
"""


def test_the_parse_worker_dies_with_a_killed_import(tmp_path):
    import psutil

    good = write_lines(tmp_path / "good.jsonl", [json.dumps(GOOD)] * 50)
    proc = subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT, f"sqlite:///{tmp_path}/s.db",
                             str(good)], stdout=subprocess.PIPE, text=True)
    try:
        kids = [psutil.Process(int(p)) for p in proc.stdout.readline().split()]
        assert kids, "the import started no parse worker"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        gone, alive = psutil.wait_procs(kids, timeout=15)
        assert alive == [], f"parse worker(s) outlived the killed import: {alive}"
    finally:
        proc.kill()
        for p in psutil.Process().children(recursive=True):
            p.kill()


# ------------------------------------------------------------- 10. a million bad lines


def test_bad_lines_keep_the_first_thousand_reasons_and_count_the_rest(tmp_path, store,
                                                                       monkeypatch, capsys):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"x\n" * 200_000 + json.dumps(GOOD).encode() + b"\n")
    tracemalloc.start()
    report = import_files(store, [path])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert (report.imported, report.skipped) == (1, 200_000)
    assert len(report.errors) == 1000 and report.errors_truncated == 199_000
    assert report.errors[0]["where"] == "bad.jsonl:1"
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    # the parse-worker path counts the same way
    monkeypatch.setattr(importer_module, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(importer_module, "CHUNK_BYTES", 64 << 10)
    monkeypatch.setattr(importer_module.os, "cpu_count", lambda: 2)
    code = main(["--db", store.url, "import", str(path), "--json"])
    out = capsys.readouterr().out
    data = json.loads(out)
    assert code == 1 and data["skipped"] == 200_000 and data["duplicates"] == 1
    assert len(data["errors"]) == 1000 and data["errors_truncated"] == 199_000
    assert len(out) < 200_000


# ------------------------------------------------------------- 11. runs: base check, delete


@pytest.fixture
def dataset_id(demo_store):
    return build_dataset(demo_store, "d", DatasetSpec(min_rating=None, include_unrated=True))[0].id


def test_an_unknown_base_is_refused_before_a_run_exists(demo_store, dataset_id, capsys):
    for base in ("nosuchmodel", "no-such-org/no-such-model", "./no/such/folder", "x.gguf"):
        code = main(["--db", demo_store.url, "train", "--dataset", str(dataset_id), "--base",
                     base])
        assert_clear(code, capsys.readouterr().err)
    assert runs.list_runs(demo_store) == []


def test_runs_delete(demo_store, dataset_id, tmp_path, capsys):
    home = tmp_path / "home"
    cfg = RunConfig(max_steps=1).validate()
    url = demo_store.url
    queued = runs.create_run(demo_store, dataset_id, "tiny", cfg)
    code = main(["--db", url, "runs", "delete", str(queued.id), "--yes"])
    assert_clear(code, capsys.readouterr().err)  # queued: a worker may take it any moment
    runs.update_run(demo_store, queued.id, status="running", heartbeat_at=runs.utcnow())
    assert_clear(main(["--db", url, "runs", "delete", str(queued.id), "--yes"]),
                 capsys.readouterr().err)
    runs.update_run(demo_store, queued.id, status="failed")
    assert_clear(main(["--db", url, "runs", "delete", str(queued.id)]),  # no --yes
                 capsys.readouterr().err)
    own = home / "runs" / f"run-{queued.id}"
    (own / "checkpoint-1").mkdir(parents=True)
    runs.update_run(demo_store, queued.id, output_dir=str(own))
    runs.log(demo_store, queued.id, "something")
    assert main(["--db", url, "runs", "delete", str(queued.id), "--yes", "--remove-files",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["removed_files"] == str(own)
    assert not own.exists() and runs.events(demo_store, queued.id) == []
    with pytest.raises(Exception, match="no run"):
        runs.get_run(demo_store, queued.id)
    # a folder ftui did not make is refused, named and kept
    other = runs.create_run(demo_store, dataset_id, "tiny", cfg)
    mine = tmp_path / "precious"
    (mine / "project").mkdir(parents=True)
    runs.update_run(demo_store, other.id, status="completed", output_dir=str(mine))
    code = main(["--db", url, "runs", "delete", str(other.id), "--yes", "--remove-files"])
    err = capsys.readouterr().err
    assert_clear(code, err)
    assert str(mine) in err and (mine / "project").is_dir()
    assert runs.get_run(demo_store, other.id).status == "completed"
    assert main(["--db", url, "runs", "delete", str(other.id), "--yes"]) == 0  # row only
    assert (mine / "project").is_dir()


# ------------------------------------------------------------- 12. chat


def test_chat_modes_are_listed_once_and_quit_ends_the_chat(demo_store, monkeypatch, capsys):
    parser = build_parser()
    chat = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
                ).choices["chat"]
    modes = next(a for a in chat._actions if a.dest == "mode").choices
    assert len(modes) == len(set(modes)) and "auto" in modes
    from ftui.store import interactions

    before = interactions.stats(demo_store)["total"]
    with StandIn() as ollama:
        for word in ("/quit", "/exit"):
            lines = iter([word, "never sent"])
            monkeypatch.setattr("builtins.input", lambda _p="", it=lines: next(it))
            assert main(["--db", demo_store.url, "chat", "llama3.2:3b", "--ollama-host",
                         ollama.url]) == 0
            assert main(["--db", demo_store.url, "chat", "llama3.2:3b", "--prompt", word,
                         "--ollama-host", ollama.url]) == 0
        assert not [r for r in ollama.requests if "chat" in r[1]]
    assert interactions.stats(demo_store)["total"] == before

