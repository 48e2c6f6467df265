"""The admin's key pages in a real browser: a key added there is shown once, its Copy button
puts it on the clipboard, it works over HTTP until it is revoked there, and reloading the page
that showed it does not show it again; and production's second factor, set up and used.

The key pages come from runserver (local settings, which send no Content-Security-Policy), with
production's policy added to each page as it arrives, so that a script the policy would block
is blocked here too, and reported. The second factor's test serves production settings with
gunicorn over HTTPS. Playwright drives a headless Chromium: TEMPLATE_TEST_CHROMIUM, or
`chromium` on PATH (Debian's package). Without one these tests are skipped; under CI they fail.
Screenshots of the page that shows a new key, of the key list, of a key's usage chart, and of
the second factor's two pages go to build/test-artifacts/.
"""

import hashlib
import hmac
import json
import os
import secrets
import shutil
import struct
import time
from base64 import b32decode
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Route, expect, sync_playwright

from tests.baking import BakedProject, assert_succeeded, unavailable
from tests.servers import get, manage, served_project

# Root in a container needs --no-sandbox; the others keep Chromium from calling home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
TIMEOUT_MS = 15_000  # for each browser action and each expectation
ADMIN_USERNAME = "browser-admin"
KEYS_URL = "/admin/api_keys/apikey/"


# Production's Content-Security-Policy header, printed by the project under its settings.
PRINT_POLICY = """
import django
django.setup()
from django.test import Client
print("policy:", Client().get("/healthz/")["Content-Security-Policy"])
"""
# Whether an inline script runs: under the policy it must not (and the browser reports it).
INLINE_SCRIPT_RUNS = """() => {
    const script = document.createElement("script");
    script.textContent = "window.inlineScriptRan = true";
    document.body.append(script);
    return window.inlineScriptRan === true;
}"""


def find_chromium() -> str | None:
    return os.environ.get("TEMPLATE_TEST_CHROMIUM") or shutil.which("chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = find_chromium()
    if executable is None:
        unavailable(
            "The admin browser test needs Chromium, and none was found: install it "
            "(Debian: apt-get install chromium) or set TEMPLATE_TEST_CHROMIUM to its path."
        )
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, timeout=60_000
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def admin_password(default_project: BakedProject) -> str:
    """A superuser made the way the generated README and docs say: createsuperuser."""
    password = secrets.token_urlsafe(16)
    assert_succeeded(
        default_project.run_python(
            "manage.py",
            "createsuperuser",
            "--noinput",
            DJANGO_SUPERUSER_USERNAME=ADMIN_USERNAME,
            DJANGO_SUPERUSER_PASSWORD=password,
            DJANGO_SUPERUSER_EMAIL="browser-admin@example.com",
        )
    )
    return password


@pytest.fixture(scope="module")
def production_policy(default_project: BakedProject) -> str:
    """The Content-Security-Policy header production sends (Django 6's middleware, or the
    project's own on Django 5.2)."""
    result = default_project.run_python(
        "-c",
        PRINT_POLICY,
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="testserver",
    )
    assert_succeeded(result)
    [policy] = [line for line in result.stdout.splitlines() if line.startswith("policy: ")]
    return policy.removeprefix("policy: ")


def under_policy(policy: str) -> Callable[[Route], None]:
    """A route handler that adds `policy` to every page (not to scripts or styles)."""

    def handle(route: Route) -> None:
        if route.request.resource_type != "document":
            route.continue_()
            return
        response = route.fetch(max_redirects=0)
        headers = {**response.headers, "content-security-policy": policy}
        route.fulfill(response=response, headers=headers)

    return handle


@pytest.fixture
def csp_violations() -> list[str]:
    """What the browser refused under the Content-Security-Policy on admin_page, as reported."""
    return []


@pytest.fixture
def admin_page(
    browser: Browser,
    server: str,
    admin_password: str,
    production_policy: str,
    csp_violations: list[str],
) -> Iterator[Page]:
    """A page of a fresh browser context, logged into the admin: production's policy on every
    page, and the clipboard open to the page's scripts."""
    context = browser.new_context(base_url=server, viewport={"width": 1600, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
    context.route("**/*", under_policy(production_policy))
    page = context.new_page()

    def record_violation(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            csp_violations.append(message.text)

    page.on("console", record_violation)
    try:
        page.goto("/admin/")
        page.fill("#id_username", ADMIN_USERNAME)
        page.fill("#id_password", admin_password)
        page.click("input[type=submit]")
        expect(page).to_have_url(f"{server}/admin/")
        yield page
    finally:
        context.close()


def add_key(page: Page, name: str, scopes: str = "", keys_url: str = KEYS_URL) -> str:
    """Fill in the add form (no expiry) and save; the key the answer shows."""
    page.goto(f"{keys_url}add/")
    page.fill("#id_name", name)
    page.fill("#id_scopes", scopes)
    expect(page.locator("#id_expiry_date_0")).to_have_value("")
    page.click("input[name=_save]")
    expect(page.get_by_role("heading", name="API key created", exact=True)).to_be_visible()
    return page.locator("#api-key").inner_text().strip()


def whoami(server: str, key: str) -> tuple[int, bytes]:
    status, _, body = get(f"{server}/api/v1/whoami/", {"Authorization": f"Api-Key {key}"})
    return status, body


def test_key_added_in_the_admin_works_until_revoked_there(
    admin_page: Page,
    server: str,
    default_project: BakedProject,
    artifacts: Path,
    csp_violations: list[str],
) -> None:
    page = admin_page
    key = add_key(page, "browser client", scopes="keys:read")
    assert key.startswith(f"{default_project.context['__key_brand']}_"), key
    page.screenshot(path=artifacts / "admin-key-created.png", full_page=True)

    status, body = whoami(server, key)
    assert status == 200, body
    assert json.loads(body)["name"] == "browser client"

    page.get_by_role("link", name="View this key").click()
    page.check("#id_revoked")
    page.click("input[name=_save]")
    expect(page).to_have_url(f"{server}{KEYS_URL}")
    row = page.locator("#result_list tbody tr", has_text="browser client")
    expect(row.locator("td.field-_status")).to_have_text("revoked")  # words, not a tick
    page.screenshot(path=artifacts / "admin-key-list.png", full_page=True)

    status, body = whoami(server, key)
    assert status == 401, body
    assert json.loads(body)["error"]["code"] == "invalid_api_key"
    assert csp_violations == []


# Earlier days' counts for the usage chart, as the move from the cache would have written them.
PAST_USAGE = """
from datetime import UTC, datetime, timedelta
from {slug}.api_keys.models import APIKey, KeyUsage
api_key = APIKey.objects.get(name={name!r})
today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
for days_ago in range(1, 30):
    KeyUsage.objects.create(
        key_model="api_keys.apikey",
        lookup_id=api_key.lookup_id,
        hour=today - timedelta(days=days_ago, hours=-9),
        accepted=200 + 150 * (days_ago % 7 == 3) - 3 * days_ago,
        refused=12 * (days_ago % 5 == 0),
    )
"""


def test_a_key_s_page_draws_its_usage_without_script(
    admin_page: Page,
    server: str,
    default_project: BakedProject,
    artifacts: Path,
    csp_violations: list[str],
) -> None:
    page = admin_page
    key = add_key(page, "charted client")
    for _ in range(6):
        assert whoami(server, key)[0] == 200
    status, _, _ = get(f"{server}/api/v1/keys/", {"Authorization": f"Api-Key {key}"})
    assert status == 403  # lacks keys:read: counted as refused
    code = PAST_USAGE.format(slug=default_project.context["project_slug"], name="charted client")
    assert_succeeded(default_project.run_python("manage.py", "shell", "-c", code))

    page.get_by_role("link", name="View this key").click()
    chart = page.locator("figure.api-key-usage")
    expect(chart.locator("svg[role=img]")).to_be_visible()
    expect(chart.locator("figcaption")).to_contain_text("refused (hatched):")
    # Today's bar: the requests made above, moved from the server's cache when the page was drawn.
    today = time.strftime("%Y-%m-%d", time.gmtime())
    expect(chart.locator("svg g title", has_text=f"{today}: 6 accepted, 1 refused")).to_have_count(1)
    expect(chart.locator("svg rect[fill='url(#usage-refused)']")).not_to_have_count(0)
    chart.screenshot(path=artifacts / "admin-key-usage-chart.png")
    page.screenshot(path=artifacts / "admin-key-usage-page.png", full_page=True)

    page.goto(KEYS_URL)
    row = page.locator("#result_list tbody tr", has_text="charted client")
    expect(row.locator("td.field-_requests_7d")).not_to_have_text("0")
    assert csp_violations == []


def test_reloading_the_page_that_showed_a_key_does_not_show_it_again(
    admin_page: Page, server: str, csp_violations: list[str]
) -> None:
    page = admin_page
    key = add_key(page, "reload check")
    secret = key.split("_")[-1][:32]  # <brand>_<lookup id>_<secret><checksum>
    change_url = page.get_by_role("link", name="View this key").get_attribute("href")
    # The page's script replaced the history entry of the form's POST with the key's own page.
    expect(page).to_have_url(f"{server}{change_url}")

    page.reload()
    expect(page).to_have_url(f"{server}{change_url}")
    expect(page.get_by_role("heading", name="Change API key")).to_be_visible()
    expect(page.locator("#api-key")).to_have_count(0)
    assert secret not in page.content()

    # The reload did not post the form again: there is one key of that name, not two.
    page.goto(f"{KEYS_URL}?q=reload+check")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    assert csp_violations == []  # forget-form-post.js ran under the policy


def test_the_copy_button_puts_the_key_on_the_clipboard_under_the_policy(
    admin_page: Page, csp_violations: list[str]
) -> None:
    page = admin_page
    key = add_key(page, "copy check")
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#copy-api-key-status")).to_have_text("Copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == key

    # Where the browser refuses the clipboard, the key is selected for Ctrl+C instead.
    page.evaluate("() => { navigator.clipboard.writeText = () => Promise.reject(new Error()); }")
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#copy-api-key-status")).to_contain_text("Selected")
    assert page.evaluate("() => window.getSelection().toString()").strip() == key

    assert csp_violations == []
    # The policy was in force, and what it refuses is reported: an inline script, for one.
    with page.expect_console_message(lambda message: "Content Security Policy" in message.text):
        assert page.evaluate(INLINE_SCRIPT_RUNS) is False


def totp(secret: str, step: int) -> str:
    """The six-digit code an authenticator app shows for time step `step` (RFC 6238: SHA-1,
    30-second steps), computed here as the app would, not by the library the project uses."""
    digest = hmac.new(b32decode(secret), struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


def sign_in_with_password(page: Page, server: str, admin: str, password: str) -> None:
    """The first step, from the admin's index; it leads to the code's step."""
    page.goto(admin)
    page.fill("#id_username", ADMIN_USERNAME)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    expect(page).to_have_url(f"{server}{admin}two-factor/?next={admin}")


def test_production_admin_needs_a_code_after_the_password(
    browser: Browser, default_project: BakedProject, tmp_path: Path, artifacts: Path
) -> None:
    """Production settings under gunicorn, the admin at DJANGO_ADMIN_URL: the first sign-in
    sets up TOTP from the page's secret, the next needs a code, and only then are keys made."""
    admin = "/staff-7f3a/"
    with served_project(
        default_project,
        tmp_path,
        collect_static=True,
        tls=True,  # gunicorn on HTTPS: the browser keeps __Host- cookies, and its Origin is https
        DJANGO_SECURE_PROXY_SSL_HEADER=None,
        DJANGO_ADMIN_URL=admin.lstrip("/"),
    ) as server:
        password = secrets.token_urlsafe(16)
        superuser = {
            "DJANGO_SUPERUSER_USERNAME": ADMIN_USERNAME,
            "DJANGO_SUPERUSER_PASSWORD": password,
            "DJANGO_SUPERUSER_EMAIL": "browser-admin@example.com",
        }
        manage(server.path, {**server.environment, **superuser}, "createsuperuser", "--noinput")
        violations: list[str] = []
        context = browser.new_context(
            base_url=server.base_url,
            ignore_https_errors=True,  # the test's own certificate, which Chromium does not know
            viewport={"width": 1200, "height": 900},
        )
        context.set_default_timeout(TIMEOUT_MS)
        try:
            page = context.new_page()
            page.on(
                "console",
                lambda message: (
                    violations.append(message.text)
                    if "Content Security Policy" in message.text
                    else None
                ),
            )
            # First sign-in: the password, then a device to set up.
            sign_in_with_password(page, server.base_url, admin, password)
            expect(page.locator("#totp-qr-code")).to_be_visible()
            assert (
                page.evaluate("() => document.getElementById('totp-qr-code').naturalWidth") > 0
            )  # the QR code's image loaded under the policy
            secret = page.locator("#totp-secret").inner_text().strip()
            page.screenshot(path=artifacts / "admin-two-factor-setup.png", full_page=True)
            page.fill("#id_code", totp(secret, int(time.time()) // 30))
            page.click("#two-factor-form input[type=submit]")
            expect(page).to_have_url(f"{server.base_url}{admin}")
            cookies = {cookie["name"]: cookie for cookie in context.cookies()}
            assert {"__Host-sessionid", "__Host-csrftoken"} <= set(cookies), list(cookies)
            assert all(cookie["secure"] for cookie in cookies.values())
            page.get_by_role("button", name="Log out").click()

            # The next sign-in: the password alone reaches no key page.
            sign_in_with_password(page, server.base_url, admin, password)
            expect(page.locator("#totp-secret")).to_have_count(0)
            page.goto(f"{admin}api_keys/apikey/")
            expect(page).to_have_url(f"{server.base_url}{admin}login/?next={admin}api_keys/apikey/")
            sign_in_with_password(page, server.base_url, admin, password)
            page.fill("#id_code", "000000")
            page.click("#two-factor-form input[type=submit]")
            expect(page.locator(".errorlist")).to_contain_text("not right")
            page.screenshot(path=artifacts / "admin-two-factor-code.png", full_page=True)
            time.sleep(1.1)  # a wrong code makes the device wait a second before the next
            # The next step's code: the one that set the device up is spent.
            page.fill("#id_code", totp(secret, int(time.time()) // 30 + 1))
            page.click("#two-factor-form input[type=submit]")
            expect(page).to_have_url(f"{server.base_url}{admin}")

            key = add_key(page, "two-factor client", keys_url=f"{admin}api_keys/apikey/")
            status, _, body = server.get("/api/v1/whoami/", key=key)
            assert status == 200, body
            assert json.loads(body)["name"] == "two-factor client"
            assert violations == []
        finally:
            context.close()
