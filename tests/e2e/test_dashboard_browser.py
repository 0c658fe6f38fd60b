"""The dashboard in a real Chromium (Debian's, driven by Playwright): user text never runs as script, the page
works with an API key, and ``/docs`` loads without any other origin. Screenshots go to ``TEST_ARTIFACTS``
(default ``build/test-artifacts``)."""

from __future__ import annotations

import io
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from service.api.app import create_app
from service.config import Settings
from tests.conftest import LOOPBACK, serving
from tests.edited_clips import read_frames

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.redis]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("Debian's chromium is not installed (scripts/test.sh installs it as root)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", "build/test-artifacts"))
STREAM_NAME = '<script>window.__xss = "stream"</script><b id="bold">bold</b>'
PERSON_NAME = '<img src=x onerror="window.__xss = 1">Host'


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("console", lambda m: m.type == "error" and "Content Security" in m.text and page.errors.append(m.text))
    page.goto(url)
    return page


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_names_with_markup_and_script_show_as_text_and_nothing_runs(service, browser, tmp_path):
    from tests.e2e.test_characters_e2e import EDIT, write_edit

    edit = tmp_path / "edit.mp4"
    write_edit(edit, EDIT)
    still = read_frames("single_face.mp4")[50]
    enrolled = httpx.post(
        f"{service.base}/characters",
        data={"name": PERSON_NAME},
        files=[("images", ("host.png", png(still), "image/png"))],
        timeout=60,
    )
    assert enrolled.status_code == 201, enrolled.text
    body = {"url": str(edit), "name": STREAM_NAME, "analysis_fps": 5, "realtime": True, "loop": True}
    stream = httpx.post(f"{service.base}/streams", json=body).json()
    try:
        index = httpx.get(service.base + "/")
        policy = index.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy

        page = open_page(browser, service.base + "/")
        page.select_option("#streams", stream["id"])
        page.wait_for_function(
            "name => [...document.querySelectorAll('#characters .who')].some(n => n.textContent === name)",
            arg=PERSON_NAME,
            timeout=90_000,
        )
        page.wait_for_function("name => document.querySelector('#faces').textContent.includes(name)", arg=PERSON_NAME)
        # the live preview: the latest analysed frame, boxed with the faces of that very frame
        page.wait_for_function("() => Number(document.querySelector('#preview').dataset.faces || 0) >= 1")
        preview = httpx.get(f"{service.base}/streams/{stream['id']}/preview.jpg")
        assert preview.headers["content-type"] == "image/jpeg" and float(preview.headers["x-media-time"]) >= 0
        shot(page, "dashboard-hostile-names")
        assert page.evaluate("window.__xss") is None
        assert page.locator("img[src='x']").count() == 0 and page.locator("#bold").count() == 0
        assert page.locator("script:not([src])").count() == 0
        options = page.locator("#streams option").all_text_contents()
        assert any(option.startswith(STREAM_NAME) for option in options)
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        httpx.delete(f"{service.base}/streams/{stream['id']}")
        httpx.delete(f"{service.base}/characters/{enrolled.json()['id']}")


def alerts_of(service, stream_id: str) -> list[dict]:
    return httpx.get(f"{service.base}/streams/{stream_id}/alerts").json()["alerts"]


def test_the_demo_programme_shows_people_their_alert_with_its_frame_and_a_name_given_everywhere(service, browser):
    from service.commands import DEMO_PROGRAMME

    body = {"url": str(DEMO_PROGRAMME), "name": "demo", "realtime": True, "loop": True}
    stream = httpx.post(f"{service.base}/streams", json=body).json()
    assert [(r["metric"], r["per_character"]) for r in stream["alert_rules"]] == [
        ("negative_share", False),
        ("negative_share", True),
    ]  # the default rules: for everyone and for each person
    page = open_page(browser, service.base + "/")
    page.on("dialog", lambda dialog: dialog.accept("Guest"))
    named = []
    try:
        page.select_option("#streams", stream["id"])
        page.wait_for_function(
            "() => document.querySelectorAll('#characters li[data-character]').length >= 2", timeout=90_000
        )
        page.wait_for_function("() => Number(document.querySelector('#preview').dataset.faces || 0) >= 1")
        first_pts = float(page.get_attribute("#preview", "data-pts"))
        page.wait_for_function("pts => Number(document.querySelector('#preview').dataset.pts) > pts", arg=first_pts)
        # the guest's per-person alert, with the frame that raised it (the guest boxed)
        deadline = time.time() + 60
        while not (mine := [a for a in alerts_of(service, stream["id"]) if a["character_id"]]):
            assert time.time() < deadline, "no per-person alert"
            time.sleep(0.5)
        alert_id, guest_id = mine[0]["id"], mine[0]["character_id"]
        alert = page.locator(f"#alerts li.alert[data-alert='{alert_id}']")
        alert.locator("img").wait_for()
        picture = httpx.get(f"{service.base}/streams/{stream['id']}/alerts/{alert_id}/frame.jpg")
        assert guest_id and picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
        page.wait_for_function(
            "id => document.querySelector(`[data-alert='${id}'] img`).naturalWidth > 0", arg=alert_id
        )
        page.wait_for_function("() => /\\d+ % positive/.test(document.querySelector('#characters').textContent)")
        shot(page, "dashboard-demo-programme")

        page.click(f"#characters li[data-character='{guest_id}'] button")  # "Name…": a prompt answered "Guest"
        named.append(guest_id)
        page.wait_for_function(
            "id => document.querySelector(`#characters li[data-character='${id}'] .who`).textContent === 'Guest'",
            arg=guest_id,
        )
        assert "Guest" in alert.text_content()  # the alert now names the person it was about
        assert "Guest" in page.locator("#timeline-of").text_content()
        page.select_option("#timeline-of", guest_id)  # the guest's own timeline and heatmaps
        page.wait_for_function("() => document.querySelector('#spatial').src.includes('character=')")
        assert httpx.get(f"{service.base}/characters/{guest_id}").json()["name"] == "Guest"

        page.select_option("#rule-metric", "positive_share")
        page.fill("#rule-threshold", "0.6")
        page.click("#rule button[type=submit]")
        page.wait_for_function("() => document.querySelectorAll('#rules li').length === 3")
        rules = httpx.get(f"{service.base}/streams/{stream['id']}/alert-rules").json()
        assert rules[-1]["metric"] == "positive_share" and rules[-1]["per_character"] and rules[-1]["threshold"] == 0.6
        page.click("#rule button[type=submit]")  # the same rule again: the API refuses, the page says why
        page.wait_for_selector("#notice:not([hidden])")
        assert page.text_content("#notice").startswith("Rules not changed") and "unique" in page.text_content("#notice")
        shot(page, "dashboard-demo-named")

        page.click("#stop")
        page.wait_for_function(
            "() => document.querySelector('#status').textContent.startsWith('stopped')", timeout=30_000
        )
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        httpx.delete(f"{service.base}/streams/{stream['id']}")
        for character_id in named:
            httpx.delete(f"{service.base}/characters/{character_id}")


@pytest.fixture
def secured(redis_url: str, key_prefix: str) -> Iterator[str]:
    """An API (no worker) that needs the key ``s3cret`` for every mutation and WebSocket."""
    settings = Settings(key_prefix=key_prefix, source_allow_networks=LOOPBACK, api_key="s3cret")
    with serving(create_app(settings, redis_url)) as port:
        yield f"http://127.0.0.1:{port}"


def test_with_an_api_key_the_dashboard_asks_once_and_then_works(secured, browser):
    body = {"url": "rtmp://localhost/y", "name": "studio"}
    created = httpx.post(f"{secured}/streams", json=body, headers={"X-API-Key": "s3cret"})
    assert created.status_code == 201
    page = open_page(browser, secured + "/")
    page.wait_for_selector("#login:not([hidden])", timeout=10_000)  # the WebSocket was refused with 4401
    page.fill("#key-input", "s3cret")
    page.click("#login button[type=submit]")
    page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('queued')", timeout=10_000)
    assert page.evaluate("sessionStorage.getItem('apiKey')") == "s3cret"
    assert page.evaluate("localStorage.length") == 0  # kept for the tab only
    page.fill("#url", "rtmp://localhost/other")
    page.fill("#name", "second camera")
    page.click("#add button[type=submit]")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#streams option')].some(o => o.text.startsWith('second'))"
    )
    shot(page, "dashboard-api-key")
    listed = httpx.get(f"{secured}/streams").json()["streams"]
    assert {s["name"] for s in listed} == {"studio", "second camera"}
    assert page.errors == []  # type: ignore[attr-defined]


def test_api_docs_load_from_this_service_only(secured, browser):
    page = browser.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(secured + "/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
    assert "Stream emotion service" in page.text_content(".swagger-ui .info .title")
    assert requested and all(url.startswith(secured) for url in requested), requested
