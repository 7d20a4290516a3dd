"""Data-parallel across machines: `torchrun --nnodes 2`, one process per node, the store on
PostgreSQL, shown with two local processes as the two nodes (gloo on the CPU). Both nodes use
one $FTUI_HOME, as machines sharing it (NFS) would: checkpoints are written by global rank 0
and a resume reads them on every node."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from ftui.curate import DatasetSpec, build_dataset
from ftui.demo import load_demo
from ftui.store import open_store
from ftui.train import runs


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_nodes_one_process_each_train_one_run_on_postgresql(pg_url, home):
    store = open_store(pg_url)
    load_demo(store)
    version, _, _ = build_dataset(store, "nodes", DatasetSpec(min_rating=4, val=0.1))
    port = str(_free_port())
    env = {**os.environ, "FTUI_HOME": str(home), "FTUI_DATABASE_URL": pg_url,
           "OMP_NUM_THREADS": "1"}
    nodes = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node_rank", str(rank),
         "--nproc_per_node", "1", "--master_addr", "127.0.0.1", "--master_port", port,
         "-m", "ftui", "train", "--dataset", str(version.id), "--base", "tiny",
         "--set", "max_steps=4", "--set", "eval_steps=2", "--set", "save_steps=2",
         "--set", "max_seq_len=128", "--set", "batch_size=2", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for rank in (0, 1)]
    outs = [node.communicate(timeout=400) for node in nodes]
    for node, (out, err) in zip(nodes, outs, strict=True):
        assert node.returncode == 0, out[-2000:] + err[-3000:]
    result = json.loads(next(line for line in outs[0][0].splitlines() if line.startswith("{")))
    assert (result["status"], result["steps"], result["world_size"]) == ("completed", 4, 2)
    assert [r.id for r in runs.list_runs(store)] == [result["run_id"]]  # node 0 owns the run
    assert len(runs.metric_series(store, result["run_id"], "train_loss")) == 4
    assert (home / "runs" / f"run-{result['run_id']}" / "adapter" /
            "adapter_model.safetensors").is_file()
    store.close()
