"""Headless Chromium driven by selenium, for the image map's browser tests and benchmarks/bench_map.py.

Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); without a GPU, WebGL needs
``--enable-unsafe-swiftshader``.  Selenium is given both paths, so it never looks for a driver online.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

CHROMIUM = os.environ.get("GANSTYLE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("GANSTYLE_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--enable-unsafe-swiftshader", "--window-size=1400,900", "--hide-scrollbars",
)  # fmt: skip


class Browser:
    """One headless Chromium with a new empty profile; ``close()`` ends it and removes the profile."""

    def __init__(self, *extra_flags: str):
        for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
            if not Path(path).is_file():
                raise RuntimeError(f"{path} not found: install Debian's {package} (apt-get install -y chromium chromium-driver; .ci/run does)")
        os.environ.setdefault("SE_OFFLINE", "true")
        self.profile = tempfile.mkdtemp(prefix="ganstyle-chromium-")
        options = Options()
        options.binary_location = CHROMIUM
        for flag in (*FLAGS, f"--user-data-dir={self.profile}", *extra_flags):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))

    def open_map(self, folder: str | Path, query: str = "", timeout: float = 60.0) -> float:
        """Open ``folder``/index.html from file:// and wait for its ready (or error) flag; seconds until ready."""
        started = time.perf_counter()
        self.driver.get((Path(folder).resolve() / "index.html").as_uri() + query)
        while time.perf_counter() - started < timeout:
            state = self.driver.execute_script("return window.ganstyleMap ? [window.ganstyleMap.ready, window.ganstyleMap.error] : [false, '']")
            if state[0]:
                return time.perf_counter() - started
            if state[1]:
                raise AssertionError(f"the map reports an error: {state[1]}")
            time.sleep(0.02)
        raise AssertionError(f"the map was not ready after {timeout} s")

    def state(self) -> dict:
        return self.driver.execute_script(
            "const m = window.ganstyleMap; return {ready: m.ready, renderer: m.renderer, drawn: m.drawn, n: m.n, error: m.error};"
        )

    def console_errors(self) -> list[dict]:
        return [entry for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)
