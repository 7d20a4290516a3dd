"""docs/cli.md is generated from the parser: it must say what the commands really take."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from ftui.cli import build_parser
from ftui.cli.reference import REGENERATE, render

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def test_docs_cli_md_is_current() -> None:
    fresh = render()
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    if fresh != current:
        diff = "".join(list(difflib.unified_diff(
            current.splitlines(keepends=True), fresh.splitlines(keepends=True),
            "docs/cli.md", "generated", n=1))[:40])
        raise AssertionError(f"docs/cli.md is out of date with the commands; run `{REGENERATE}` "
                             f"and commit it\n{diff}")


def test_every_command_path_is_documented_with_its_flags() -> None:
    """The reference names every leaf and every option a leaf declares (walked independently
    of the generator), so a renderer that dropped some would fail here."""
    text = render()

    def walk(parser, path):
        subs = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
        if not subs:
            yield path, parser
        for sub in subs:
            for name, child in sub.choices.items():
                yield from walk(child, (*path, name))

    leaves = list(walk(build_parser(), ()))
    assert len(leaves) > 40
    for path, parser in leaves:
        heading = f"# ftui {' '.join(path)}\n"
        assert heading in text, heading
        section = text.split(heading, 1)[1].split("\n#", 1)[0]
        for action in parser._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    assert flag in section, (path, flag)


def test_the_width_is_fixed_whatever_the_terminal(monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    narrow = render()
    monkeypatch.setenv("COLUMNS", "250")
    assert render() == narrow
    assert os.environ["COLUMNS"] == "250"  # the caller's setting is given back


def test_the_readme_overview_names_every_top_level_command() -> None:
    """README.md's `## CLI` section has one overview row per top-level command and links here."""
    readme = (DOC.parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## CLI\n", 1)[1].split("\n## ", 1)[0]
    assert "docs/cli.md" in section
    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    missing = [name for name in sub.choices if f"`ftui {name}" not in section]
    assert not missing, (f"README.md's CLI overview table has no row for {missing}: add one "
                         "(a one-line purpose; the flags are in docs/cli.md)")
