"""`--help` a newcomer can use: every option of every command has a help sentence (capital
letter, full stop) and a visible default, flags show no ``<bool>`` placeholder, and the
`cy train` defaults (100 000 points, k = 5, 30 steps, float32) are on the page."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from ntkflow.cli import app

runner = CliRunner()


def _commands(group, path=()):
    for name, cmd in getattr(group, "commands", {}).items():
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, (*path, name))
        else:
            yield (*path, name), cmd


COMMANDS = sorted(_commands(typer.main.get_command(app)), key=lambda c: c[0])


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_option_has_a_sentence_and_a_default(path, cmd):
    assert cmd.help and cmd.help.strip().split("\n")[0].rstrip().endswith("."), path
    for p in cmd.params:
        if p.name == "help":
            continue
        text = (p.help or "").strip()
        assert text, f"{' '.join(path)} {p.opts}: no help"
        assert text[0].isupper() and text.endswith("."), f"{' '.join(path)} {p.opts}: {text!r}"
        if not getattr(p, "is_flag", False) and not p.required:
            assert p.show_default is not False, f"{' '.join(path)} {p.opts}: default hidden"


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=[" ".join(p) for p, _ in COMMANDS])
def test_help_page_has_no_bool_placeholder_and_no_cut_first_line(path):
    res = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert res.exit_code == 0, res.output
    assert "<bool>" not in res.output


def test_cy_train_help_shows_the_defaults():
    res = runner.invoke(app, ["cy", "train", "--help"], env={"COLUMNS": "200"}, terminal_width=200)
    text = " ".join(res.output.split())
    # the defaults of TrainConfig: points, k (0 = by section count), steps, time budget, …
    for shown in (
        "(100 000)",
        "(0)",
        "(200)",
        "(200.0)",
        "(float32)",
        "(fermat-quintic)",
        "(auto)",
    ):
        assert f"[default: {shown}]" in text, shown
    assert re.search(r"--seed\s+<int>\s+Seed of the random number generator", res.output)


def test_group_listings_show_whole_first_sentences():
    for group in ([], ["cy"], ["flow"], ["ntk"], ["reproduce"]):
        res = runner.invoke(app, [*group, "--help"], env={"COLUMNS": "200"}, terminal_width=200)
        rows = [ln for ln in res.output.splitlines() if ln.startswith("│ ") and "  " in ln[2:]]
        for row in rows:
            text = row.strip("│ ").strip()
            assert text.endswith("."), f"{group}: {text!r}"
