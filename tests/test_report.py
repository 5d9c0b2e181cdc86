"""`ntkflow report`: figures for every metric, embedded byte for byte in a self-contained
HTML page that headless Chromium renders with every image decoded."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess

import matplotlib.image
import numpy as np
import pytest
from typer.testing import CliRunner

from ntkflow.cli import app
from ntkflow.io import RunDir

CONFIG = {"seed": 4, "model": {"width": 32}, "lr": 1e-3}


@pytest.fixture
def run(tmp_path):
    rd = RunDir.create(tmp_path / "run", {"job": "pkg:job", "config": CONFIG, "n_steps": 50})
    steps = np.arange(1, 51)
    with rd.metrics_writer() as log:
        for s in steps:
            rec = {
                "step": int(s),
                "time_s": 0.1 * s,
                "loss": float(np.exp(-s / 5)),
                "val_loss": float(1.1 * np.exp(-s / 5)),
                "sigma": 0.37 / s,
                "ricci_measure": 2.0 / np.sqrt(s),
                "ntk_change": 1e-3 * s,
            }
            if s % 10 == 0:
                rec["ntk_spectrum"] = list(np.geomspace(10.0, 1e-4, 6) * (1 + 0.01 * s))
            log.write(rec)
    rd.write_status("completed", step=50)
    return rd


def test_report_figures_and_html(run):
    res = CliRunner().invoke(app, ["report", str(run.path), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    names = sorted(p.rsplit("/", 1)[1] for p in out["figures"])
    # loss and val_loss share one figure; spectra and Ricci against sigma are added
    assert names == sorted(
        [
            "loss.png",
            "sigma.png",
            "ricci_measure.png",
            "ntk_change.png",
            "ntk_spectrum.png",
            "ricci_measure_vs_sigma.png",
        ]
    )
    page = run.report.read_text()
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(embedded) == len(names)
    for name, b64 in zip(
        sorted(names, key=lambda n: page.index(f'alt="{n}"')), embedded, strict=True
    ):
        png = (run.figures / name).read_bytes()
        assert base64.b64decode(b64) == png
        img = matplotlib.image.imread(run.figures / name)
        assert img.shape[0] > 100 and img.shape[1] > 100
    assert '"width": 32' in html.unescape(page) and "pkg:job" in page
    assert "http://" not in page and "https://" not in page  # nothing to fetch


def _chromium() -> str | None:
    names = ("chromium", "chromium-browser", "google-chrome", "chrome", "chrome-headless-shell")
    found = [shutil.which(n) for n in names]
    return next((f for f in found if f), None)


def _render(browser: str, html_path, profile) -> dict:
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={profile}",
        "--dump-dom",
        html_path.as_uri(),
    ]
    dom = subprocess.run(cmd, capture_output=True, timeout=120, text=True).stdout
    m = re.search(r'<pre id="image-check" data-done="1">([^<]*)</pre>', dom)
    assert m, f"page script did not run; DOM starts {dom[:300]!r}"
    return json.loads(m.group(1))


def test_report_renders_in_headless_chromium(run, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip(
            "no Chromium found (chromium, chromium-browser, google-chrome); "
            ".ci/run installs it with apt-get when run as root"
        )
    assert CliRunner().invoke(app, ["report", str(run.path)]).exit_code == 0
    check = _render(browser, run.report, tmp_path / "profile")
    assert check == {"images": 6, "loaded": 6, "failed": []}
    # the same check sees a broken image
    broken = tmp_path / "broken.html"
    page = run.report.read_text()
    broken.write_text(page.replace("data:image/png;base64,iVBOR", "data:image/png;base64,AAAA", 1))
    check = _render(browser, broken, tmp_path / "profile")
    assert check["images"] == 6 and check["loaded"] == 5 and len(check["failed"]) == 1
