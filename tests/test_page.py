"""The upload page in a real headless browser (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import base64
import html

import pytest
from playwright.sync_api import expect, sync_playwright

from tests import images
from tests.embedded import EmbeddedService
from tests.environment import ALICE_KEY, alice_http
from tests.waiting import poll_until_finished

CHROMIUM = "/usr/bin/chromium"  # Debian's package, installed by scripts/test.sh; never `playwright install`
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
WAIT_MS = 60_000

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with EmbeddedService(tmp_path_factory.mktemp("page-data"), thumbnailers=1) as service:
        yield service


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, service):
    page = browser.new_page()
    page.goto(f"{service.url}/")
    page.fill("#key", ALICE_KEY)
    page.dispatch_event("#key", "change")
    yield page
    page.close()


def card(page, name: str):
    return page.locator("li.job", has=page.locator(".name", has_text=name))


def test_an_image_and_a_text_file_give_a_thumbnail_and_an_error(page, tmp_path):
    photo, notes = tmp_path / "photo.jpg", tmp_path / "notes.txt"
    photo.write_bytes(images.jpeg(400, 200))
    notes.write_text("just some words, not an image")

    page.set_input_files("#files", [str(photo), str(notes)])

    done = card(page, "photo.jpg")
    expect(done).to_have_attribute("data-status", "complete", timeout=WAIT_MS)
    thumbnail = done.locator("img.thumbnail")
    expect(thumbnail).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle())
    assert thumbnail.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [100, 50]
    link = done.locator("a.preview")
    assert "signature=" in link.get_attribute("href")  # the signed URL: shown and downloaded without the key
    assert thumbnail.get_attribute("src") == link.get_attribute("href")
    assert link.get_attribute("download") == "photo.thumbnail.jpg"  # named after the upload

    refused = card(page, "notes.txt")
    expect(refused).to_have_attribute("data-status", "error", timeout=WAIT_MS)
    expect(refused.locator(".message")).to_contain_text("not a supported image")


def test_a_dropped_image_that_is_too_large_shows_why(page):
    bomb = base64.b64encode(images.png_bomb()).decode()
    page.evaluate("""bytes => {
        const data = Uint8Array.from(atob(bytes), c => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([data], "huge.png", {type: "image/png"}));
        document.getElementById("dropzone").dispatchEvent(
            new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
    }""", bomb)

    refused = card(page, "huge.png")
    expect(refused).to_have_attribute("data-status", "error", timeout=WAIT_MS)
    expect(refused.locator(".message")).to_contain_text("413")
    expect(refused.locator(".message")).to_contain_text("pixels")


def test_without_a_key_the_page_says_to_enter_one(page, tmp_path):
    page.fill("#key", "")
    photo = tmp_path / "nokey.jpg"
    photo.write_bytes(images.jpeg(400, 200))
    page.set_input_files("#files", [str(photo)])
    refused = card(page, "nokey.jpg")
    expect(refused).to_have_attribute("data-status", "error", timeout=WAIT_MS)
    expect(refused.locator(".message")).to_contain_text("401")
    expect(refused.locator(".message")).to_contain_text("enter your API key")


def test_the_key_is_remembered_by_the_browser(page):
    page.reload()
    assert page.input_value("#key") == ALICE_KEY


def test_history_is_shown_after_a_reload(page, tmp_path):
    photo = tmp_path / "kept.jpg"
    photo.write_bytes(images.jpeg(400, 200))
    page.set_input_files("#files", [str(photo)])
    uploaded = card(page, "kept.jpg")
    expect(uploaded).to_have_attribute("data-status", "complete", timeout=WAIT_MS)
    assert uploaded.locator("a.preview").get_attribute("download") == "kept.thumbnail.jpg"
    job_id = uploaded.get_attribute("data-job")

    page.reload()

    again = page.locator(f'li.job[data-job="{job_id}"]')
    expect(again).to_have_attribute("data-status", "complete", timeout=WAIT_MS)
    thumbnail = again.locator("img.thumbnail")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle())
    assert page.locator("li.job").count() == page.locator("li.job[data-history]").count()  # no duplicates


def test_older_jobs_come_a_page_at_a_time(page, service):
    for _ in range(21):  # more than one page of 20, whatever the other tests left
        response = alice_http.post(f"{service.url}/jobs", files={"image": ("p.jpg", images.jpeg(40, 20))}, timeout=30)
        assert response.status_code == 202
    page.reload()
    expect(page.locator("li.job[data-history]")).to_have_count(20, timeout=WAIT_MS)
    more = page.locator("#more")
    expect(more).to_be_visible()
    more.focus()
    page.keyboard.press("Enter")  # reachable from the keyboard
    expect(page.locator("li.job[data-history]")).not_to_have_count(20, timeout=WAIT_MS)


def test_a_page_without_a_key_shows_a_thumbnail_by_its_signed_url(browser, service):
    """The point of signed URLs: an <img> on any page, with no key anywhere in the browser."""
    submitted = alice_http.post(f"{service.url}/jobs", files={"image": ("p.jpg", images.jpeg(400, 200))}, timeout=30)
    job = poll_until_finished(f"{service.url}/jobs/{submitted.json()['id']}")
    signed = job["outputs"][0]["signed_url"]
    page = browser.new_page()  # a context of its own: no key in its storage, none in any request
    try:
        answers = []
        page.on("response", lambda response: answers.append(response) if "signature=" in response.url else None)
        page.set_content(f'<img id="thumb" alt="thumbnail" src="{html.escape(signed)}">')
        thumbnail = page.locator("#thumb")
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle())
        assert thumbnail.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [100, 50]
        (answer,) = answers
        headers = answer.all_headers()
        assert answer.status == 200 and "authorization" not in answer.request.all_headers()
        assert "public" in headers["cache-control"] and "immutable" in headers["cache-control"]

        again = page.request.get(signed, headers={"If-None-Match": headers["etag"]})
        assert again.status == 304 and again.body() == b""

        path, query = signed.split("?")
        signature = query.split("signature=")[1].split("&")[0]
        tampered = f"{path}?{query.replace(signature, ('A' if signature[0] != 'A' else 'B') + signature[1:])}"
        refused = page.request.get(tampered)
        assert refused.status == 403 and refused.json()["error"] == "Forbidden"
        page.set_content(f'<img id="bad" alt="refused" src="{html.escape(tampered)}">')
        bad = page.locator("#bad")
        page.wait_for_function("img => img.complete", arg=bad.element_handle())
        assert bad.evaluate("img => img.naturalWidth") == 0
    finally:
        page.close()


def test_the_reference_page_lists_every_operation(browser, service):
    """/docs renders /openapi.json: every operation with its parameters and responses, from the
    api's own files only (nothing requested elsewhere, nothing refused by the page's CSP)."""
    document = alice_http.get(f"{service.url}/openapi.json").json()
    page = browser.new_page()
    elsewhere, errors = [], []
    page.on("request", lambda request: None if request.url.startswith(service.url) else elsewhere.append(request.url))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(f"{service.url}/")
    page.click("a[href=docs]")  # the upload page links to it
    page.wait_for_url(f"{service.url}/docs")

    operations = [(method, path, operation) for path, item in document["paths"].items()
                  for method, operation in item.items() if method in ("get", "head", "post", "delete")]
    expect(page.locator("section.operation[data-method]")).to_have_count(len(operations), timeout=WAIT_MS)
    for method, path, operation in operations:
        section = page.locator(f'section.operation[id="{operation["operationId"]}"]')
        expect(section).to_have_attribute("data-method", method)
        expect(section).to_have_attribute("data-path", path)
        statuses = section.locator("tr.response").evaluate_all("rows => rows.map(row => row.dataset.status)")
        assert statuses == list(operation["responses"])
    submit = page.locator("section#submitJob")
    expect(submit.locator("tr.parameter")).to_have_count(len(document["paths"]["/jobs"]["post"]["parameters"]))
    expect(submit).to_contain_text("multipart/form-data")
    expect(page.locator("#schema-Job")).to_contain_text("outputs")
    assert not elsewhere and not errors
    page.close()
