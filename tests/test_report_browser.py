"""The report in a real headless Chromium (Debian's `chromium`): it loads offline without console
errors, every chart draws, and clicking the WER column sorts the rows; a screenshot is saved.

A copy of the page gets a small harness: a first script that records errors (script errors,
console.error, resources that fail to load) and a last one that inspects the charts, clicks the
column header and writes what it saw into the DOM, which `chromium --dump-dom` prints.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from reports import build_report

from helpers import report_sweep, write_synthetic_sweep

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package (scripts/setup.sh)")]

RECORD_ERRORS = """<script>
window.__errors = [];
window.addEventListener("error", function (e) {
  __errors.push(e.message || ("failed to load " + (e.target && (e.target.src || e.target.href))));
}, true);
var __consoleError = console.error;
console.error = function () {
  __errors.push(Array.prototype.join.call(arguments, " "));
  __consoleError.apply(console, arguments);
};
</script>"""

INSPECT = """<script>
window.addEventListener("load", function () { setTimeout(function () {
  var charts = Array.prototype.map.call(document.querySelectorAll("div.chart"), function (div) {
    var svg = div.querySelector("svg.main-svg");
    // data marks only (not axes or grid lines): line paths, point markers, bars, heatmap images
    var marks = div.querySelectorAll("path.js-line, path.point, .bars path, image").length;
    return {id: div.id, svg: !!svg, marks: marks, width: svg ? svg.getBoundingClientRect().width : 0};
  });
  function order() {
    var rows = document.querySelectorAll("#groups tbody tr");
    return Array.prototype.map.call(rows, function (r) { return r.dataset.group; });
  }
  var initial = order();
  var wer = document.getElementById("wer-column");
  document.querySelector("#groups th").click();  // by name first, so that sorting by WER has to move rows
  var byName = order();
  wer.click();
  var ascending = order();
  wer.click();
  var descending = order();
  var result = document.createElement("pre");
  result.id = "harness-result";
  result.textContent = JSON.stringify({errors: window.__errors, charts: charts, initial: initial, byName: byName,
                                       ascending: ascending, descending: descending});
  document.body.appendChild(result);
}, 300); });
</script>"""

OFFLINE_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
                 "--host-resolver-rules=MAP * ~NOTFOUND"]  # any attempt to reach the network fails


def chromium(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *OFFLINE_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *arguments],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser_report")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    spec, trials = report_sweep()
    write_synthetic_sweep(uri, root / "artifacts", "hand", spec, trials)
    return build_report(uri, "hand", root / "report.html")


def test_the_report_loads_offline_draws_every_chart_and_sorts(report, tmp_path):
    page = report.read_text()
    harnessed = page.replace("<head>", "<head>" + RECORD_ERRORS, 1).replace("</body>", INSPECT + "</body>", 1)
    (tmp_path / "page.html").write_text(harnessed)
    done = chromium(tmp_path, "--window-size=1366,900", "--virtual-time-budget=15000", "--dump-dom",
                    (tmp_path / "page.html").as_uri())
    found = re.search(r'<pre id="harness-result">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the harness did not run; chromium said: {done.stderr[-2000:]}"
    result = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<")
                        .replace("&gt;", ">"))

    assert result["errors"] == []
    assert "Uncaught" not in done.stderr
    charts = {c["id"]: c for c in result["charts"]}
    expected = {"chart-train_loss", "chart-val_loss", "chart-wer_steps", "chart-wer_bars", "chart-params_wer",
                "chart-throughput_wer", "chart-effects", "chart-balance", "chart-heatmap_0", "chart-heatmap_1"}
    assert set(charts) == expected
    for chart in charts.values():
        assert chart["svg"] and chart["marks"] > 0 and chart["width"] > 200, chart

    wer_order = ["moe,noisy_topk=off", "moe,noisy_topk=on", "dense"]
    assert result["initial"] == wer_order
    assert result["byName"] == ["dense", "moe,noisy_topk=off", "moe,noisy_topk=on"]
    assert result["ascending"] == wer_order and result["descending"] == wer_order[::-1]


def test_a_screenshot_of_the_report_is_saved(report, tmp_path):
    screenshot = report.with_name("report.png")
    done = chromium(tmp_path, "--window-size=1366,2400", "--virtual-time-budget=15000",
                    f"--screenshot={screenshot}", report.as_uri())
    assert screenshot.exists() and screenshot.stat().st_size > 50_000, done.stderr[-2000:]
    print(f"screenshot: {screenshot}")
