"""`ntkflow report`: figures for every metric, embedded byte for byte in a self-contained
HTML page that headless Chromium renders with every image decoded."""

from __future__ import annotations

import base64
import html
import json
import os
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
                rec["euler_characteristic"] = -200.0 + 2.0 * s
                rec["euler_characteristic_error"] = 30.0 / np.sqrt(s)
            log.write(rec)
    rd.write_status("completed", step=50)
    return rd


def test_report_figures_and_html(run):
    res = CliRunner().invoke(app, ["report", str(run.path), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    names = sorted(p.rsplit("/", 1)[1] for p in out["figures"])
    # loss and val_loss share one figure; spectra and Ricci against sigma are added; χ has
    # its Monte-Carlo error as error bars, not a figure of its own
    assert names == sorted(
        [
            "loss.png",
            "sigma.png",
            "ricci_measure.png",
            "ntk_change.png",
            "ntk_spectrum.png",
            "euler_characteristic.png",
            "ricci_measure_vs_sigma.png",
        ]
    )
    assert (
        "euler_characteristic ± euler_characteristic_error against step" in run.report.read_text()
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


def _chromium() -> str:
    """The headless browser; in CI (CI=true) a missing one is a failure, not a skip."""
    names = ("chromium", "chromium-browser", "google-chrome", "chrome", "chrome-headless-shell")
    found = next((f for f in (shutil.which(n) for n in names) if f), None)
    if found is None:
        why = "no Chromium found (chromium, chromium-browser, google-chrome)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{why}; CI must render the report (.ci/run installs it with apt-get)")
        pytest.skip(f"{why}; .ci/run installs it with apt-get (`apt-get install chromium`)")
    return found


def _browser_args(browser: str, profile) -> list[str]:
    return [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}"]


def _render(browser: str, html_path, profile) -> dict:
    """Load the page in headless Chromium; the page's script reports decoded images."""
    cmd = [*_browser_args(browser, profile), "--dump-dom", html_path.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, timeout=120, text=True).stdout
    m = re.search(r'<pre id="image-check" data-done="1">([^<]*)</pre>', dom)
    assert m, f"page script did not run; DOM starts {dom[:300]!r}"
    return json.loads(m.group(1))


def screenshot(browser: str, html_path, profile, out) -> np.ndarray:
    """A headless Chromium screenshot of the page, as an RGB(A) array."""
    cmd = [
        *_browser_args(browser, profile),
        "--hide-scrollbars",
        "--window-size=1000,2400",
        f"--screenshot={out}",
        html_path.as_uri(),
    ]
    subprocess.run(cmd, capture_output=True, timeout=120)
    assert out.exists() and out.stat().st_size > 0, "Chromium wrote no screenshot"
    return matplotlib.image.imread(out)


def assert_renders(browser: str, html_path, tmp_path, n_images: int) -> None:
    """Every figure decodes in the browser, and the screenshot shows a page (not blank)."""
    check = _render(browser, html_path, tmp_path / "profile")
    assert check == {"images": n_images, "loaded": n_images, "failed": []}
    shot = screenshot(browser, html_path, tmp_path / "profile", tmp_path / "shot.png")
    assert shot.shape[0] >= 1000 and shot.shape[1] >= 800
    rgb = shot[..., :3]
    assert rgb.std() > 0.05, "the screenshot is blank"


def test_report_renders_in_headless_chromium(run, tmp_path):
    browser = _chromium()
    assert CliRunner().invoke(app, ["report", str(run.path)]).exit_code == 0
    assert_renders(browser, run.report, tmp_path, 7)
    # the same check sees a broken image
    broken = tmp_path / "broken.html"
    page = run.report.read_text()
    broken.write_text(page.replace("data:image/png;base64,iVBOR", "data:image/png;base64,AAAA", 1))
    check = _render(browser, broken, tmp_path / "profile")
    assert check["images"] == 7 and check["loaded"] == 6 and len(check["failed"]) == 1
