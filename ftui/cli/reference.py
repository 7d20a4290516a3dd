"""docs/cli.md, generated from the parser itself so that it cannot drift from the commands:
`python -m ftui.cli.reference > docs/cli.md` (tests/test_cli_reference.py checks it is current).

Defines no commands (no `register`). Argparse wraps usage lines to the terminal's width, so the
width is fixed here: the file is the same on every machine.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterator

WIDTH = 100
REGENERATE = "python -m ftui.cli.reference > docs/cli.md"
STANDARD_JSON_HELP = "print one JSON object"  # what leaf() gives --json: said once, at the top


def render(parser: argparse.ArgumentParser | None = None) -> str:
    """The whole reference as Markdown: every command path, grouped by top-level command in the
    order `ftui --help` lists them."""
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(WIDTH)  # argparse sizes its output from $COLUMNS
    try:
        if parser is None:
            from ftui.cli import build_parser

            parser = build_parser()
        return "\n".join(_document(parser)).rstrip("\n") + "\n"
    finally:
        if saved is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved


def _document(root: argparse.ArgumentParser) -> Iterator[str]:
    yield "# ftui command reference"
    yield ""
    yield (f"Generated from the parser by `{REGENERATE}`; do not edit by hand (a test compares "
           "it with the commands). `ftui COMMAND --help` prints the same usage and help. "
           "`--db URL` goes before the command. Every command that reports takes `--json` and "
           "then prints exactly one JSON object. A failure prints its cause and a `fix:` line "
           "and exits with 2.")
    yield ""
    yield from _command(root, (), help_line=None, depth=1, top=True, recurse=False)
    yield "## Commands"
    yield ""
    for name, help_line in _children(root):
        yield f"- [`ftui {name}`](#{_anchor('ftui ' + name)}): {_escape(help_line)}"
    yield ""
    for name, help_line in _children(root):
        yield from _command(_subparser(root, name), (name,), help_line, depth=2)


def _command(parser: argparse.ArgumentParser, path: tuple[str, ...], help_line: str | None,
             depth: int, top: bool = False, recurse: bool = True) -> Iterator[str]:
    if not top:
        yield f"{'#' * min(depth, 4)} ftui {' '.join(path)}"
        yield ""
    text = parser.description or help_line or ""
    if text and not top:
        yield _escape(" ".join(text.split()))
        yield ""
    children = _children(parser)
    arguments = list(_arguments(parser))
    if arguments or not children:  # a group's own usage says only `ACTION ...`
        yield "```"
        yield _usage(parser)
        yield "```"
        yield ""
    if arguments:
        yield from arguments
        yield ""
    for name, child_help in children if recurse else []:
        yield from _command(_subparser(parser, name), (*path, name), child_help, depth + 1)


def _usage(parser: argparse.ArgumentParser) -> str:
    """argparse's own usage line, without `usage: ` and the `[-h]` every command has."""
    formatter = parser._get_formatter()
    actions = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    formatter.add_usage(parser.usage, actions, parser._mutually_exclusive_groups, prefix="")
    return "\n".join(line.rstrip() for line in formatter.format_help().strip("\n").splitlines())


def _arguments(parser: argparse.ArgumentParser) -> Iterator[str]:
    """One line per argument that has something to say (--json and -h are said once above)."""
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if action.help in (argparse.SUPPRESS, STANDARD_JSON_HELP):
            continue
        invocation = formatter._format_action_invocation(action)
        if action.help is None:  # no words, but a default is worth saying
            if any(action.default is nothing for nothing in (None, False, argparse.SUPPRESS)) \
                    or not action.option_strings:
                continue
            yield f"- `{invocation}`: default `{action.default}`"
            continue
        help_text = " ".join(formatter._expand_help(action).split())
        yield f"- `{invocation}`: {_escape(help_text)}"


def _children(parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
    """The subcommands of a parser as (name, help line), in the order --help lists them."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return [(choice.dest, choice.help or "") for choice in action._choices_actions
                    if choice.help != argparse.SUPPRESS]
    return []


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise KeyError(name)


def _escape(text: str) -> str:
    """Help text as Markdown text: `<name>` would vanish as an HTML tag, `*` would emphasise."""
    return re.sub(r"([\\<*])", r"\\\1", text)


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


if __name__ == "__main__":
    sys.stdout.write(render())
