"""The leaderboard HTML page in a real headless Chromium: it renders, sorts on a header click, and screenshots.

Chromium (Debian's ``chromium`` package; ``.ci/setup_chromium.sh`` installs it) is started by the test and
driven over the DevTools protocol on a loopback websocket (``websocket-client``). Clicks are real mouse events
dispatched at the header's on-screen position, not JavaScript ``click()`` calls. The page is opened from disk
with networking features disabled. Set ``RRG_EVAL_SCREENSHOT_DIR`` to keep the screenshot.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from compare_fixture import fixed_leaderboard

from rrg_eval.leaderboard.render import render_leaderboard

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium, "
                                                         "or run .ci/setup_chromium.sh)")
websocket = pytest.importorskip("websocket", reason="needs websocket-client (in the 'test' extra)")


class DevTools:
    """A minimal DevTools-protocol client: numbered commands, replies matched by id, events skipped."""

    def __init__(self, url: str) -> None:
        self._ws = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self._ids = itertools.count(1)

    def call(self, method: str, **params: object) -> dict:
        ident = next(self._ids)
        self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def js(self, expression: str) -> object:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript error in {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, x: float, y: float) -> None:
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def close(self) -> None:
        self._ws.close()


@pytest.fixture
def browser(tmp_path):
    """A headless Chromium with remote debugging on a loopback port; yields (DevTools, page folder)."""
    profile = tmp_path / "profile"
    profile.mkdir()
    page_path = tmp_path / "leaderboard.html"
    page_path.write_text(render_leaderboard(fixed_leaderboard(), "html"), encoding="utf-8")
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
               "--hide-scrollbars", "--window-size=1200,900", f"--user-data-dir={profile}",
               "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", page_path.as_uri()]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = None
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and port_file.read_text().strip()):
            if process.poll() is not None:
                pytest.fail(f"chromium exited with code {process.returncode} before opening DevTools")
            if time.monotonic() > deadline:
                pytest.fail("chromium did not open its DevTools port within 60 s")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        target = None
        while target is None:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as reply:
                pages = [t for t in json.load(reply) if t.get("type") == "page"]
            target = next((t for t in pages if t.get("url", "").startswith("file:")), None)
            if target is None:
                if time.monotonic() > deadline:
                    pytest.fail(f"no page target for the leaderboard (targets: {pages})")
                time.sleep(0.1)
        client = DevTools(target["webSocketDebuggerUrl"])
        loaded = ("location.protocol === 'file:' && document.readyState === 'complete' && "
                  "document.querySelector('table.lb') !== null")
        while not client.js(loaded):  # the target may still show the blank page it started on
            if time.monotonic() > deadline:
                pytest.fail("the page did not finish loading within 60 s")
            time.sleep(0.1)
        yield client, tmp_path
    finally:
        if client is not None:
            client.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _systems(client: DevTools) -> list[str]:
    return client.js("Array.from(document.querySelectorAll('table.lb tbody tr'))"
                     ".map(r => r.cells[0].dataset.value)")  # type: ignore[return-value]


def _click_header(client: DevTools, label: str) -> None:
    rect = client.js(f"""(() => {{
        const th = Array.from(document.querySelectorAll('table.lb th')).find(h => h.textContent === {label!r});
        const r = th.getBoundingClientRect();
        return {{x: r.left + r.width / 2, y: r.top + r.height / 2}};
    }})()""")
    client.click(rect["x"], rect["y"])  # type: ignore[index]


def test_page_renders_sorts_on_header_click_and_screenshots(browser):
    client, folder = browser
    assert client.js("document.title").startswith("rrg-eval leaderboard")
    assert client.js("document.querySelectorAll('table.lb tbody tr').length") == 3
    assert client.js("document.querySelector('table.lb').getBoundingClientRect().width") > 300
    image = "document.querySelector('img.plot')"
    assert client.js(f"{image}.complete && {image}.naturalWidth > 0")  # the embedded plot decoded
    assert _systems(client) == ["base_line", "better", "worse"]

    _click_header(client, "bleu4 (%)")  # higher is better: best first
    assert _systems(client) == ["better", "base_line", "worse"]
    assert client.js("document.querySelectorAll('table.lb th')[1].getAttribute('aria-sort')") == "descending"
    _click_header(client, "bleu4 (%)")  # second click: the other way round
    assert _systems(client) == ["worse", "base_line", "better"]
    _click_header(client, "err_rate (%) ↓")  # lower is better: lowest first
    assert _systems(client) == ["better", "worse", "base_line"]
    _click_header(client, "system")
    assert _systems(client) == ["base_line", "better", "worse"]
    _click_header(client, "mean rank")
    assert _systems(client) == ["better", "worse", "base_line"]

    shot = client.call("Page.captureScreenshot", format="png")
    data = base64.b64decode(shot["data"])
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    (folder / "leaderboard.png").write_bytes(data)
    keep = os.environ.get("RRG_EVAL_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(folder / "leaderboard.png", Path(keep) / "leaderboard.png")
