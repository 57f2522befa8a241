"""Debian's Chromium driven by Playwright, for the tests of the pages."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.components import missing

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As root and with no network but loopback: no sandbox, and nothing that calls out.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if shutil.which(CHROMIUM) is None:
        missing("Debian's chromium (apt-get install chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        missing("the playwright package")
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Any) -> Any:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    return await context.new_page()
