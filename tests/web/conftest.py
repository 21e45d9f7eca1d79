"""A live lcad server (embedded mode, a tiny LC-VaDE fitted on 300 real CRTS curves, 40 of them scored) and headless
Chromium.

Chromium and its driver come from Debian's packages (``apt-get install chromium chromium-driver``; ``.ci/run``
installs them). Without them the browser tests skip with a message, unless ``LCAD_REQUIRE_BROWSER=1`` (set by CI),
where a missing browser is an error.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))

import lcad_testkit as kit  # noqa: E402

from models.scorers import get_scorer  # noqa: E402
from service.config import Settings  # noqa: E402

N_CURVES = 40


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def lcvade_file(tmp_path_factory) -> Path:
    """A tiny LC-VaDE (a few optimiser steps): real reconstructions, class posteriors and latent means to show."""
    data = kit.sample()
    path = tmp_path_factory.mktemp("model") / "lcvade.pt"
    get_scorer("lcvade", preset="tiny", seed=0, device="cpu").fit(data.lightcurves, data.labels, max_steps=3).save(path)
    return path


@pytest.fixture(scope="session")
def live_settings(tmp_path_factory, lcvade_file) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("web"), model_path=lcvade_file, rate_limit_per_minute=100_000)


@pytest.fixture(scope="session")
def live_url(live_settings) -> str:
    """The app served by uvicorn in a thread, with a batch of real curves scored; stopped at the end."""
    import httpx
    import uvicorn

    from service.api.main import create_app

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(live_settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the lcad server did not start"
        time.sleep(0.1)
    answer = httpx.post(f"{url}/batches", content=kit.jsonl(kit.sample().lightcurves[:N_CURVES]),
                        headers={"Content-Type": "application/x-ndjson"})
    assert answer.status_code == 202, answer.text
    batch = answer.json()["id"]
    while httpx.get(f"{url}/batches/{batch}").json()["state"] != "done":
        assert time.monotonic() < deadline, "the batch was not scored in time"
        time.sleep(0.2)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


def _browser_paths() -> tuple[str | None, str | None]:
    return (shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver"))


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium driven by Selenium; skips (or fails under LCAD_REQUIRE_BROWSER=1) when absent."""
    chromium, driver_path = _browser_paths()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        chromium = None
    if not (chromium and driver_path):
        message = ("browser tests need Debian's chromium and chromium-driver (apt-get install chromium "
                   "chromium-driver) and selenium (pip install -e '.[dev]')")
        if os.environ.get("LCAD_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1600"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.implicitly_wait(5)
    yield driver
    driver.quit()
