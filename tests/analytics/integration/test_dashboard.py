"""The supervisor dashboard in a real headless Chromium: loads cleanly, shows the API's numbers.

Needs Debian's chromium (`apt-get install -y chromium`, at /usr/bin/chromium) and the playwright
Python package (pinned in constraints.txt); playwright's own browser downloads are not used.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from playwright.async_api import ConsoleMessage, Page, async_playwright

from tests.analytics.integration.support import API_KEY, FROM, TO, Week, kpis

CHROMIUM = "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def http_server(week: Week) -> AsyncIterator[str]:
    """Serve the already running app over real HTTP (its lifespan is the fixture's)."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            week.service.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no start event
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def _text(page: Page, selector: str) -> str:
    text = await page.locator(selector).first.text_content()
    return (text or "").strip()


async def test_the_dashboard_loads_without_errors_and_shows_the_api_numbers(live: Week) -> None:
    [group] = (await kpis(live.service))["groups"]
    expected = group["kpis"]
    board = (await live.service.client.get("/v1/live", headers=API_KEY)).json()
    key = API_KEY["Authorization"].removeprefix("Bearer ")
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    async with http_server(live) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            page = await browser.new_page()
            page.on("console", on_console)
            page.on("pageerror", lambda error: errors.append(str(error)))
            # A key in the address is never taken (it would sit in history and logs).
            page_answer = await page.goto(
                f"{base}/dashboard?key={key}&from={FROM}&to={TO}&refresh=5"
            )
            assert page_answer is not None
            headers = page_answer.headers
            assert "script-src 'self'" in headers["content-security-policy"]
            assert "unsafe-inline" not in headers["content-security-policy"]
            assert headers["x-frame-options"] == "DENY"
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["referrer-policy"] == "no-referrer"
            assert "key=" not in page.url
            await page.wait_for_function(
                "() => document.querySelector('#status').textContent.startsWith('Give')",
                timeout=20_000,
            )
            await page.fill("#key", key)
            await page.click("button[type=submit]")
            await page.wait_for_function(
                "() => document.querySelector('#status').textContent.startsWith('Updated')",
                timeout=20_000,
            )

            assert await _text(page, '[data-kpi="nps"]') == f"{expected['nps']:.1f}"
            assert await _text(page, '[data-kpi="volume"]') == str(expected["volume"])
            assert await _text(page, '[data-kpi="csat_mean"]') == f"{expected['csat_mean']:.2f}"
            assert (
                await _text(page, '[data-kpi="fcr_rate"]') == f"{100 * expected['fcr_rate']:.1f}%"
            )
            past_due = board["clocks_past_due"]
            assert past_due > 0  # the week's open clocks are long past their deadlines
            assert (
                await _text(page, "#at-risk-count")
                == f"{board['clocks_at_risk']} ({past_due} past due)"
            )
            queue_cells = await page.locator("#queues tbody td").all_text_contents()
            assert queue_cells[:2] == [
                board["queues"][0]["queue"],
                str(board["queues"][0]["depth"]),
            ]

            charts: dict[str, Any] = await page.evaluate(
                """() => Object.fromEntries(['nps-trend', 'by-channel', 'by-party', 'drivers']
                    .map((id) => { const c = Chart.getChart(id);
                                   return [id, {labels: c.data.labels,
                                                data: c.data.datasets[0].data}]; }))"""
            )
            by_channel = (await kpis(live.service, group_by="channel"))["groups"]
            assert dict(
                zip(charts["by-channel"]["labels"], charts["by-channel"]["data"], strict=True)
            ) == {g["key"]["channel"] or "unknown": g["kpis"]["volume"] for g in by_channel}
            assert charts["drivers"]["labels"] == [
                d["theme"] for d in expected["top_detractor_drivers"]
            ]
            by_day = (await kpis(live.service, group_by="day"))["groups"]
            assert charts["nps-trend"]["labels"] == [
                g["key"]["day"] for g in by_day if g["kpis"]["nps"] is not None
            ]

            # The key stays in this tab's session only, never in localStorage.
            assert await page.evaluate("localStorage.getItem('atende.analytics.key')") is None
            assert await page.evaluate("sessionStorage.getItem('atende.analytics.key')") == key
        finally:
            await browser.close()

    assert errors == []
