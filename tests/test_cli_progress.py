"""Progress a person can read: the `cy train` bars fit an 80-column terminal with their
human labels, and io (where the bars live) imports neither the CLI nor any layer above it."""

from __future__ import annotations

import ast
import io
import re
from pathlib import Path

from rich.console import Console

from ntkflow.cy.train_config import TrainConfig
from ntkflow.io.progress import progress_bar, stage, thousands

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _last_frame(render) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=80, force_terminal=True, color_system=None)
    render(console)
    frames = [ANSI.sub("", f) for f in buf.getvalue().replace("\r", "\n").split("\n")]
    frames = [f for f in frames if f.strip()]
    assert all(len(f) <= 80 for f in frames), max(frames, key=len)
    return frames[-1]


def test_training_bar_fits_80_columns_with_its_label():
    label = TrainConfig().description

    def render(console):
        with progress_bar(label, 30, console=console) as advance:
            for _ in range(12):
                advance(1, status="loss=0.01334 sigma_test=0.03121")

    line = _last_frame(render)
    assert label == "training (L-BFGS)" and line.startswith(label)
    bar = re.search(r"\) (.*?)12/30", line)
    assert bar and len(bar.group(1)) >= 16 and "━" in bar.group(1)  # the bar did not collapse
    assert "make_job" not in line


def test_stage_spinner_keeps_its_label():
    label = f"sampling {thousands(100_000)} points on fermat-quintic"

    def render(console):
        with progress_bar(label, None, console=console):
            pass

    line = _last_frame(render)
    assert label in line and line.rstrip().endswith("done")
    with stage("x", disable=True):  # a disabled stage draws nothing and does not fail
        pass


def test_io_imports_neither_the_cli_nor_upper_layers():
    upper = ("ntkflow.cli", "ntkflow.experiments", "ntkflow.flows", "ntkflow.cy", "ntkflow.kernels")
    root = Path(__file__).parents[1] / "src" / "ntkflow" / "io"
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.ImportFrom) and node.level >= 2:
                names = [f"ntkflow.{node.module or ''}"]
            for name in names:
                assert not name.startswith(upper), f"{path.name} imports {name}"
