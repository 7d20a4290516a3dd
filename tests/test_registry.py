"""The model registry: auto-registration of finished runs, stages per slot, history, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftui import registry
from ftui.cli import main
from ftui.curate import DatasetSpec, build_dataset, get_dataset
from ftui.errors import FtuiError
from ftui.store import RegisteredModel
from ftui.train import runs
from ftui.train.config import RunConfig
from ftui.train.worker import run_worker


@pytest.fixture
def trained(demo_store, tmp_path):
    version, _, _ = build_dataset(demo_store, "reg", DatasetSpec(min_rating=4))
    run = runs.create_run(demo_store, version.id, "tiny",
                          RunConfig(max_steps=3, eval_steps=3, save_steps=3,
                                    max_seq_len=256).validate())
    run_worker(demo_store, tmp_path / "home", once=True)
    return runs.get_run(demo_store, run.id)


def test_a_finished_run_registers_its_adapter_with_lineage(demo_store, trained):
    assert trained.status == "completed", trained.error
    models = registry.list_models(demo_store)
    assert len(models) == 1
    m = models[0]
    assert (m.kind, m.stage, m.slot, m.run_id, m.path) == (
        "adapter", "candidate", "general", trained.id, trained.adapter_dir)
    assert m.dataset_hash == get_dataset(demo_store, trained.dataset_id).content_hash
    assert m.params["lora_r"] == 16 and "best_eval_loss" in m.metrics
    assert registry.register_run(demo_store, trained).id == m.id  # once only


def test_one_production_model_per_slot_with_history(demo_store, trained, tmp_path):
    first = registry.list_models(demo_store)[0]
    other = registry.register(demo_store, kind="ollama", name="base", ollama_name="llama3.2:3b")
    registry.set_stage(demo_store, first.id, "production", slot="programming", note="wins A/B")
    registry.set_stage(demo_store, other.id, "production", slot="programming")
    assert registry.get_model(demo_store, first.id).stage == "staging"
    assert registry.production_model(demo_store, "programming").id == other.id
    events = [(e.action, e.to_stage, e.note) for e in registry.history(demo_store, first.id)]
    assert events == [("registered", "candidate", f"from run {first.run_id}"),
                      ("promoted", "production", "wins A/B"),
                      ("demoted", "staging", "replaced by base")]
    with pytest.raises(FtuiError, match="not a simple name"):
        registry.set_stage(demo_store, other.id, "production", slot="Two Words")
    with pytest.raises(FtuiError, match="no config.json"):
        registry.register(demo_store, kind="hf", name="bad", path=str(tmp_path))
    with pytest.raises(FtuiError, match="registered already"):
        registry.register(demo_store, kind="ollama", name="base", ollama_name="x")


def test_models_cli_json_and_delete(demo_store, trained, capsys, tmp_path, monkeypatch):
    db = demo_store.url
    home = tmp_path / "home"  # promotion runs the regression gate: a small one, on this home
    (home / "config.toml").write_text("[gate]\ngeneral_items = 4\nvalidation_limit = 2\n"
                                      "max_new_tokens = 4\n")
    monkeypatch.setenv("FTUI_HOME", str(home))
    assert main(["--db", db, "models", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["models"]
    assert set(listed[0]) >= {"id", "name", "kind", "stage", "slot", "base_model", "run_id",
                              "dataset_hash", "path", "ollama_name", "metrics"}
    model_id = str(listed[0]["id"])
    assert main(["--db", db, "models", "promote", model_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stage"] == "production"
    assert main(["--db", db, "models", "delete", model_id]) == 2  # needs --yes
    assert main(["--db", db, "models", "delete", model_id, "--yes", "--remove-files"]) == 0
    assert registry.list_models(demo_store) == []
    from pathlib import Path

    assert not Path(trained.adapter_dir).exists()


def _copy_adapter(src: str, dest):
    import shutil

    shutil.copytree(src, dest)
    return dest


def test_remove_files_only_deletes_what_ftui_wrote_under_its_home(demo_store, trained, tmp_path,
                                                                   capsys, monkeypatch):
    """A folder registered by hand (here: inside the user's project) is never removed; neither is
    anything that only looks as if it were under $FTUI_HOME."""
    home = tmp_path / "home"
    monkeypatch.setenv("FTUI_HOME", str(home))
    db = demo_store.url
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "main.py").write_text("print('precious')\n")
    own = _copy_adapter(trained.adapter_dir, project / "adapter")
    outside_link = home / "runs" / "run-99"
    outside_link.mkdir(parents=True)
    (outside_link / "adapter").symlink_to(own, target_is_directory=True)
    hostile = {
        "by-hand": own,  # the reported case
        "project-root": project,
        "home-itself": home,
        "runs-root": home / "runs",
        "dot-dot": home / "runs" / ".." / ".." / "project" / "adapter",
        "symlink-out": outside_link / "adapter",
        "base-models": home / "models",
    }
    for name, path in hostile.items():
        # stored as given (not resolved), so the check itself must see through .. and links
        model = registry.add_model(demo_store, RegisteredModel(
            name=name, kind="adapter", path=str(path), base_model="tiny"), None)
        assert main(["--db", db, "models", "delete", str(model.id), "--yes",
                     "--remove-files"]) == 2, name
        err = capsys.readouterr().err
        assert "fix:" in err and str(path) in err, (name, err)
        assert registry.get_model(demo_store, model.id).id == model.id  # nothing forgotten
        assert (project / "src" / "main.py").is_file() and (own / "adapter_config.json").is_file()
        assert (home / "runs").is_dir()
        # without --remove-files the entry goes and the files stay
        assert main(["--db", db, "models", "delete", str(model.id), "--yes"]) == 0
        capsys.readouterr()
    assert (project / "src" / "main.py").read_text() == "print('precious')\n"
    # what a run wrote under $FTUI_HOME/runs is still removed
    run_model = registry.list_models(demo_store)[-1]
    assert run_model.run_id == trained.id
    assert main(["--db", db, "models", "delete", str(run_model.id), "--yes",
                 "--remove-files"]) == 0
    assert not Path(trained.adapter_dir).exists()
