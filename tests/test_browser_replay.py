"""Playing a finished session back in the browser: from the learner's list to its code, runs,
output and tutor turns, at 16x."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.client import http_get, open_client, register
from tests.components import RunningNode
from tests.test_browser_account import log_in, watch_errors

pytestmark = pytest.mark.browser

FINAL = "def two_sum(nums, target):\n    return [0, 1]\n\nprint('replayed output')\n"


async def finished_session(node: RunningNode) -> tuple[Any, str]:
    """A learner's session with edits, a run, a tutor turn, a pause, and its end."""
    account = await register(node, consent=True, name="Lin")
    client = await open_client(node, account.token)
    sid = (await client.ok("session.create", question_id="two-sum"))["sid"]
    await client.ok("session.join", sid=sid, role="learner")
    await client.ok("code.update", sid=sid, code="def two_sum(nums, target):\n    pass\n")
    await anyio.sleep(3)  # an idle stretch the replay skips
    await client.ok("code.update", sid=sid, code=FINAL)
    run_id = (await client.ok("code.run", sid=sid, mode="run"))["run_id"]
    await client.until("run.finished", within=30, run_id=run_id)
    turn_id = (await client.ok("tutor.ask", sid=sid, text="Is this right?"))["turn_id"]
    await client.until("tutor.turn.end", within=30, turn_id=turn_id)
    await client.ok("session.end", sid=sid)
    await client.until("session.ended")
    last = max(e["seq"] for e in client.events if e["sid"] == sid)
    with anyio.fail_after(20):  # the trace writer persists within about 100 ms
        while True:
            page = (await http_get(node, f"/api/sessions/{sid}/trace", account.token)).json()
            if page["events"] and page["events"][-1]["seq"] >= last:
                break
            await anyio.sleep(0.2)
    return account, sid


async def test_a_finished_session_plays_back_with_its_code_runs_and_tutor(
        node: RunningNode, page: Any, artifacts: Path) -> None:
    from playwright.async_api import expect

    account, sid = await finished_session(node)
    errors = watch_errors(page)
    await log_in(page, node, account.email, account.password)
    link = page.locator(f'[data-testid="session-item"][data-sid="{sid}"] ~ '
                        '[data-testid="replay-link"]')
    await expect(link).to_be_visible(timeout=15_000)
    await link.click()
    await expect(page.get_by_test_id("replay")).to_be_visible()
    await expect(page.get_by_test_id("replay-title")).to_contain_text("Two Sum", timeout=15_000,
                                                                      ignore_case=True)
    code = page.get_by_test_id("replay-code")
    # The start: the starter code, none of what came later.
    await expect(code).to_contain_text("def two_sum")
    await expect(code).not_to_contain_text("replayed output")

    await page.get_by_test_id("replay-speed").select_option("16")
    await page.get_by_test_id("replay-play").click()
    await expect(page.get_by_test_id("replay-ended")).to_be_visible(timeout=20_000)
    await expect(code).to_contain_text("print('replayed output')")
    await expect(page.get_by_test_id("replay-run")).to_contain_text("replayed output")
    await expect(page.get_by_test_id("replay-turn")).to_contain_text("Is this right?")
    # Idle time is skipped: three seconds of nothing play as at most 1.5 s at 1x.
    total = await page.get_by_test_id("replay-time").inner_text()
    minutes, seconds = total.split("/")[1].strip().split(":")
    assert int(minutes) * 60 + int(seconds) < 30

    # Back to the start: the first edit, nothing run yet.
    await page.get_by_test_id("replay-position").evaluate(
        "el => { el.value = '0'; el.dispatchEvent(new Event('input')); }")
    await expect(page.get_by_test_id("replay-run")).to_have_count(0)
    await page.screenshot(path=str(artifacts / "replay.png"), full_page=True)
    await page.get_by_test_id("replay-back").click()
    await expect(page.get_by_test_id("replay")).to_be_hidden()
    assert not errors, errors
