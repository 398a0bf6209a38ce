"""Every ``hepatokit ...`` command line the README and ``docs/*.md`` show (in code blocks and
in inline code) parses against the real CLI: the command exists, every option it names
exists, no argument is left over, and each choice or number it gives is accepted.

The truth is the prose written for users; a renamed command or option, or a typo in the
docs, fails here. Placeholders in capitals (``BUILD``, ``N``), ``[optional]`` brackets and
``a|b`` alternatives (each alternative is checked) follow the docs' own conventions.
"""

from __future__ import annotations

import itertools
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer

from hepatokit.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^[ \t]*```(\w*)\n(.*?)^[ \t]*```", re.S | re.M)
INLINE = re.compile(r"(?<!`)`(hepatokit [^`]+)`(?!`)")
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _from_blocks(text: str) -> list[str]:
    lines = []
    for lang, body in FENCE.findall(text):
        if lang in ("python", "json", "yaml"):
            continue
        for line in body.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0]  # a trailing comment
            for part in re.split(r"&&|;", line):
                cmd = part.strip().removeprefix("$ ")
                if re.match(r"hepatokit\s", cmd):
                    lines.append(cmd)
    return lines


def _from_inline(text: str) -> list[str]:
    without_blocks = FENCE.sub("", text)
    return [m.replace("\\|", "|") for m in INLINE.findall(without_blocks)]


def _variants(line: str) -> list[list[str]]:
    """The argument lists one documented line stands for (brackets dropped, ``a|b`` expanded)."""
    tokens = shlex.split(line.replace("[", " ").replace("]", " "))[1:]
    tokens = [t for t in tokens if t not in ("...", "…", "/", "or:")]
    choices = [t.split("|") if "|" in t else [t] for t in tokens]
    return [list(c) for c in itertools.product(*choices)]


def documented() -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    for doc in DOCS:
        text = doc.read_text()
        for line in _from_blocks(text) + _from_inline(text):
            for argv in _variants(line):
                out.append((f"{doc.name}: hepatokit {' '.join(argv)}", argv))
    return out


EXAMPLES = documented()


def _check_values(cmd: Any, ctx: Any, argv: list[str]) -> None:
    """Type-check what the line gives, except placeholders and paths (they need not exist)."""
    raw, _, _ = cmd.make_parser(ctx).parse_args(args=list(argv))
    by_name = {p.name: p for p in cmd.params}
    for name, value in raw.items():
        param = by_name[name]
        if value is None or value == ():  # named in prose without a value
            continue
        annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
        if "Path" in repr(annotation) or getattr(param, "is_flag", False):
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(v, str) and PLACEHOLDER.match(v) for v in values):
            continue
        param.process_value(ctx, value)  # raises on a wrong choice or number


def parse(argv: list[str]) -> Any:
    """Resolve ``argv`` down the command tree as the CLI would, without running anything."""
    cmd: Any = typer.main.get_command(app)
    ctx: Any = None
    name, args = "hepatokit", list(argv)
    while True:
        ctx = cmd.make_context(name, list(args), parent=ctx, resilient_parsing=True)
        if not getattr(cmd, "commands", None):
            assert not ctx.args, f"unexpected arguments {ctx.args}"
            _check_values(cmd, ctx, args)
            return cmd
        rest = [*ctx._protected_args, *ctx.args]
        if not rest:
            return cmd
        name, cmd, args = cmd.resolve_command(ctx, rest)
        assert cmd is not None, f"no command {rest[0]!r}"


def test_the_docs_show_many_commands():
    assert len(EXAMPLES) >= 40


@pytest.mark.parametrize(("where", "argv"), EXAMPLES, ids=[w for w, _ in EXAMPLES])
def test_documented_command_parses(where: str, argv: list[str]) -> None:
    parse(argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["mri", "index", "RAW", "--out", "BUILD", "--no-such-option"],
        ["mri", "indexx", "RAW"],
        ["split", "BUILD", "EXTRA"],
        ["baseline", "staging", "--data", "d", "--epochs", "three"],
        ["synth", "patho", "OUT", "--patches", "many"],
    ],
)
def test_a_wrong_line_is_caught(argv: list[str]) -> None:
    with pytest.raises(Exception):  # noqa: B017 - click's usage errors and our asserts
        parse(argv)
