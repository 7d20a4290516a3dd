"""Packaging: a plain (non-editable) install finds its assets; `--help` stays light."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_help_imports_nothing_heavy():
    code = (
        "import sys\n"
        "from ftui.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'textual', 'sqlalchemy', 'sqlmodel')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout
    assert "import" in out.stdout and "demo" in out.stdout  # the help lists the commands


def test_installed_wheel_finds_stylesheet_and_demo_data(tmp_path):
    wheel_dir, target = tmp_path / "wheel", tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "-w", str(wheel_dir), str(ROOT)],
        check=True, capture_output=True,
    )
    wheel = next(wheel_dir.glob("ftui-*.whl"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
         str(wheel)],
        check=True, capture_output=True,
    )
    code = (
        # the checkout's editable install must not fill in what the wheel lacks (it did: a
        # wheel without ftui/cli passed while `ftui.cli` came from the source tree)
        "import sys\n"
        "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in "
        "getattr(f, '__module__', '')]\n"
        "import json, ftui, ftui.screens.app\n"
        "from ftui.resources import asset_path\n"
        "from ftui.cli import main\n"
        "print(json.dumps({'ftui': ftui.__file__, 'css': ftui.screens.app.FtuiApp.CSS_PATH,\n"
        "  'demo': str(asset_path('demo_interactions.jsonl'))}))\n"
        f"raise SystemExit(main(['--db', {str(tmp_path / 'x.db')!r}, 'demo', '--json']))\n"
    )
    # A folder named screens/ (or widgets/) in the current directory must not shadow the app's.
    for name in ("screens", "widgets"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    paths, report = (json.loads(line) for line in out.stdout.strip().splitlines())
    for key in ("ftui", "css", "demo"):
        assert paths[key].startswith(str(target)), (key, paths[key])
        assert Path(paths[key]).is_file()
    # `ftui demo` loads the sample set and its preference signals, both from the wheel
    shipped = sum(1 for name in ("demo_interactions.jsonl", "demo_preferences.jsonl")
                  for line in (ROOT / "assets" / name).read_text(encoding="utf-8").splitlines()
                  if line.strip())
    assert report["imported"] == shipped


def test_every_package_of_the_checkout_is_in_the_wheel_list():
    """pyproject's explicit `packages` must name every folder of modules under ftui/ (and
    screens/, widgets/): a package left out is silently missing from a plain install."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"])
    found = set()
    for top, name in ((ROOT / "ftui", "ftui"), (ROOT / "screens", "ftui.screens"),
                      (ROOT / "widgets", "ftui.widgets"), (ROOT / "assets", "ftui.assets")):
        for folder in [top, *[p for p in top.rglob("*") if p.is_dir()]]:
            if "__pycache__" in folder.parts or not any(
                    f.suffix in (".py", ".toml") for f in folder.iterdir() if f.is_file()):
                continue
            found.add(".".join([name, *folder.relative_to(top).parts]))
    assert found - listed == set()


def test_core_reaches_the_ui_only_through_ftui_ui():
    """Only `ftui ui` (lazily, in cli) may import ftui.screens / ftui.widgets from the core."""
    offenders = []
    for path in sorted((ROOT / "ftui").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            text = line.strip()
            if text.startswith(("import ftui.screens", "import ftui.widgets",
                                "from ftui.screens", "from ftui.widgets")):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {text}")
    allowed = [o for o in offenders if o.startswith("ftui/cli") and "ftui.screens.app" in o]
    assert offenders == allowed and len(allowed) == 1, offenders
