"""A server error reaches its people without the key: Sentry (on when SENTRY_DSN is set) gets
events from which api/error_tracking.py has taken every key, here posted to a server of the
test's own on 127.0.0.1; ADMINS get Django's report by mail, the key's header hidden; and
production wires both from the environment."""

import gzip
import http.client
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import django
import pytest
import sentry_sdk
import sentry_sdk.transport
from django.urls import path
from django.utils.crypto import get_random_string
from django.views.decorators.debug import sensitive_variables
from rest_framework.views import APIView
from sentry_sdk.types import Event

from tests.test_production_settings import REQUIRED, deploy_check, run

from ...api_keys.keys import (
    ALPHABET,
    CHECKSUM_LENGTH,
    LOOKUP_ID_LENGTHS,
    SECRET_LENGTHS,
    KeyGenerator,
)
from ...api_keys.models import APIKey
from ...api_keys.permissions import KeyParser
from .. import error_tracking, reports
from ..error_tracking import SENT_HEADERS, init_error_tracking, scrub_event
from ..reports import FILTERED, KEY_SHAPED
from ..views import server_error


class Bug(Exception):
    pass


class FailingView(APIView):
    """Fails once the request's key is accepted, holding the key as careless code would: in a
    variable (marked sensitive, as docs/security.md asks) and in a breadcrumb, as Sentry makes
    of a log record. (A log record holding a key would fail the whole run: conftest.py.)"""

    @sensitive_variables("key")
    def get(self, request):
        key = KeyParser().get(request)
        sentry_sdk.add_breadcrumb(category="careless", message=f"checked {key}")
        raise Bug("the disk is on fire")


urlpatterns = [path("failing/", FailingView.as_view())]
handler500 = server_error  # as config/urls.py sets it

# Where the key comes in (API_KEYS["HEADER"], the header, its value): Authorization, or a header
# of the project's choosing that neither Sentry's SDK nor Django knows by name.
HEADERS = {
    "authorization": (None, "Authorization", "Api-Key {key}"),
    "custom header": ("HTTP_X_CLIENT_CREDENTIAL", "X-Client-Credential", "{key}"),
}


@pytest.fixture
def keyed_request(api_keys_options, request):
    """A new key, and the header that presents it (`HEADERS[request.param]`)."""
    setting, name, value = HEADERS[request.param]
    api_keys_options(HEADER=setting)
    key = APIKey.objects.create_key(name="billing")[1]
    return key, {name: value.format(key=key)}


def secret_of(key: str) -> str:
    return key.rsplit("_", 1)[1][:-CHECKSUM_LENGTH]


@pytest.fixture
def sentry_inbox(monkeypatch) -> Iterator[tuple[str, list[bytes]]]:
    """A DSN, and what Sentry's SDK posts to it (envelopes, uncompressed), received by a server
    on 127.0.0.1. The SDK is shut down afterwards, so that nothing else is sent."""
    received: list[bytes] = []

    class Inbox(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            received.append(body)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Inbox)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(sentry_sdk.transport, "brotli", None)  # gzip, which the stdlib reads
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    try:
        yield f"http://public@127.0.0.1:{server.server_port}/1", received
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)
        server.shutdown()
        server.server_close()
        thread.join()


def envelope_items(envelope: bytes) -> Iterator[tuple[dict[str, Any], bytes]]:
    """The (item header, payload) pairs of a Sentry envelope."""
    rest = envelope.split(b"\n", 1)[1]  # after the envelope's own header
    while rest.strip():
        line, rest = rest.split(b"\n", 1)
        header = json.loads(line)
        if "length" in header:
            payload, rest = rest[: header["length"]], rest[header["length"] + 1 :]
        else:
            payload, _, rest = rest.partition(b"\n")
        yield header, payload


def events_in(received: list[bytes]) -> list[dict[str, Any]]:
    """The error events among what Sentry's SDK sent."""
    return [
        json.loads(payload)
        for envelope in received
        for item, payload in envelope_items(envelope)
        if item["type"] == "event"
    ]


def answer_status(live_server, target: str, headers: dict[str, str]) -> int:
    """The status of `GET target` from the test's WSGI server, as production serves it."""
    server = urlsplit(live_server.url)
    connection = http.client.HTTPConnection(server.hostname, server.port, timeout=30)
    try:
        connection.request("GET", target, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def admins_setting(*addresses: str) -> list[Any]:
    """ADMINS as the running Django takes it: addresses on 6.0 and later, (name, address)
    pairs on 5.2 (as config/settings/production.py writes it)."""
    return list(addresses) if django.VERSION >= (6, 0) else [("", address) for address in addresses]


def places_holding(text: str, value: Any, place: str = "") -> list[str]:
    """Where in `value` (a decoded event) `text` appears, as dotted paths."""
    if isinstance(value, list):
        value = dict(enumerate(value))
    if isinstance(value, dict):
        found = [f"{place}.{name} (the name)" for name in value if text in str(name)]
        for name, item in value.items():
            found += places_holding(text, item, f"{place}.{name}")
        return found
    return [place] if isinstance(value, str) and text in value else []


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("keyed_request", HEADERS, indirect=True)
def test_an_error_in_a_keyed_request_reaches_sentry_without_the_key(
    sentry_inbox, transactional_db, keyed_request, live_server
):
    dsn, received = sentry_inbox
    key, header = keyed_request
    init_error_tracking(dsn)  # as config/settings/production.py does

    # A careless client sends the key in the URL too.
    status = answer_status(live_server, f"/failing/?api_key={key}", header)
    sentry_sdk.flush(timeout=10)

    assert status == 500
    [event] = events_in(received)
    [exception] = event["exception"]["values"]
    assert (exception["type"], exception["value"]) == ("Bug", "the disk is on fire")
    for secret in (key, secret_of(key)):
        leaks = places_holding(secret, event)
        assert not leaks, f"sent to Sentry in {', '.join(leaks)}"
        assert all(secret not in envelope.decode() for envelope in received)
    # Where the key was, the event still says what happened; only the key is gone.
    assert event["request"]["query_string"] == f"api_key={FILTERED}"
    breadcrumbs = event["breadcrumbs"]["values"]
    assert [crumb["message"] for crumb in breadcrumbs if crumb["category"] == "careless"] == [
        f"checked {FILTERED}"
    ]
    assert {name.lower() for name in event["request"]["headers"]} <= SENT_HEADERS
    frames = exception["stacktrace"]["frames"]
    assert "get" in [frame["function"] for frame in frames]
    assert [frame for frame in frames if "vars" in frame] == []


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("keyed_request", ["custom header"], indirect=True)
def test_without_the_scrubber_the_key_would_reach_sentry(
    sentry_inbox, transactional_db, keyed_request, live_server, monkeypatch
):
    """The test above fails without scrub_event: the SDK alone sends the key."""
    dsn, received = sentry_inbox
    key, header = keyed_request
    monkeypatch.setattr(error_tracking, "scrub_event", lambda event, hint: event)
    init_error_tracking(dsn)

    answer_status(live_server, f"/failing/?api_key={key}", header)
    sentry_sdk.flush(timeout=10)

    [event] = events_in(received)
    assert places_holding(key, event)


def test_an_event_the_scrubber_fails_on_is_dropped_not_sent(sentry_inbox, monkeypatch):
    dsn, received = sentry_inbox
    init_error_tracking(dsn)

    def broken(text: str) -> str:
        raise AttributeError("a bug in the scrubber")

    monkeypatch.setattr(error_tracking, "without_keys", broken)

    sentry_sdk.capture_message("an error")
    sentry_sdk.flush(timeout=10)

    assert events_in(received) == []


def test_every_text_that_reads_like_a_key_is_filtered():
    key = KeyGenerator(brand="billing").generate()[0]
    legacy_key = f"{get_random_string(8, ALPHABET)}.{get_random_string(32, ALPHABET)}"
    event: Event = {
        "exception": {"values": [{"type": "ValueError", "value": f"no quota for {key}"}]},
        "logentry": {"message": "refused %s", "params": [legacy_key]},
        "breadcrumbs": {"values": [{"message": f"GET /?k={key}", "data": {key: legacy_key}}]},
        "request": {
            "url": f"https://api.example.com/{key}/",
            "headers": {"User-Agent": "curl/8", "Authorization": f"Bearer {key}", "X-Key": key},
            "cookies": {"sessionid": "abc"},
            "data": {"key": key},
        },
        "extra": {"sys.argv": ["manage.py", "revokeapikey", key]},
    }

    scrubbed = scrub_event(event, {})

    assert places_holding(key, scrubbed) == []
    assert places_holding(legacy_key, scrubbed) == []
    assert scrubbed["exception"]["values"][0]["value"] == f"no quota for {FILTERED}"
    assert scrubbed["logentry"]["params"] == [FILTERED]
    assert scrubbed["extra"]["sys.argv"] == ["manage.py", "revokeapikey", FILTERED]
    assert scrubbed["request"] == {
        "url": f"https://api.example.com/{FILTERED}/",
        "headers": {"User-Agent": "curl/8"},
    }


def test_what_does_not_read_like_a_key_is_kept():
    lookup_id = get_random_string(12, ALPHABET)
    text = (
        f"key {lookup_id} refused in sensitive_variables_wrapper of "
        f"myapi.api_keys.verification, sha256${'0' * 64}, trace 0123456789abcdef0123456789abcdef"
    )
    assert scrub_event({"message": text}, {}) == {"message": text}


def test_a_long_text_without_a_key_is_kept():
    text = "ab" * 100_000  # no key, and no end to a brand (the pattern's runs are bounded)
    assert scrub_event({"message": text}, {}) == {"message": text}


@pytest.mark.parametrize("brand", ["a", "b" * 20])
@pytest.mark.parametrize("lookup_id_length", [LOOKUP_ID_LENGTHS[0], LOOKUP_ID_LENGTHS[-1]])
@pytest.mark.parametrize("secret_length", [SECRET_LENGTHS[0], SECRET_LENGTHS[-1]])
def test_keys_of_every_brand_and_length_the_app_allows_read_like_keys(
    brand, lookup_id_length, secret_length
):
    key = KeyGenerator(lookup_id_length, secret_length, brand=brand).generate()[0]
    assert KEY_SHAPED.fullmatch(key)


@pytest.mark.django_db
@pytest.mark.urls(__name__)
@pytest.mark.parametrize("keyed_request", HEADERS, indirect=True)
def test_a_server_error_mails_the_admins_without_the_key(
    keyed_request, client, settings, mailoutbox
):
    key, header = keyed_request
    admin = "ops@example.com"
    settings.ADMINS = admins_setting(admin)
    client.raise_request_exception = False

    # A careless client sends the key in the URL too.
    response = client.get(f"/failing/?api_key={key}", headers=header)

    assert response.status_code == 500
    [mail] = mailoutbox
    assert mail.to == [admin]
    assert "Bug at /failing/" in mail.body
    assert "the disk is on fire" in mail.body
    assert f"api_key = '{FILTERED}'" in mail.body
    texts = [mail.subject, mail.body]
    texts += [str(alternative[0]) for alternative in mail.alternatives]
    texts += [str(attachment) for attachment in mail.attachments]
    for secret in (key, secret_of(key)):
        assert [text for text in texts if secret in text] == []
    # The report shows the header, hidden.
    [name] = header
    assert f"HTTP_{name.upper().replace('-', '_')} = '********************'" in mail.body


@pytest.mark.django_db
@pytest.mark.urls(__name__)
@pytest.mark.parametrize("keyed_request", ["authorization"], indirect=True)
def test_without_the_reporter_the_key_would_be_mailed(
    keyed_request, client, settings, mailoutbox, monkeypatch
):
    """The test above fails with Django's own report: it mails the query as it is."""
    key, header = keyed_request
    settings.ADMINS = admins_setting("ops@example.com")
    monkeypatch.setattr(reports, "without_keys", lambda text: text)
    client.raise_request_exception = False

    client.get(f"/failing/?api_key={key}", headers=header)

    [mail] = mailoutbox
    assert key in mail.body


@pytest.mark.urls(__name__)
def test_a_request_for_another_host_is_neither_mailed_nor_sent(
    sentry_inbox, transactional_db, live_server, settings, mailoutbox
):
    """Scanners name other hosts all day: each is a line in the log (config/settings/base.py),
    not a mail or an event."""
    dsn, received = sentry_inbox
    settings.ADMINS = admins_setting("ops@example.com")
    init_error_tracking(dsn)

    status = answer_status(live_server, "/failing/", {"Host": "scanner.example"})
    sentry_sdk.flush(timeout=10)

    assert status == 400
    assert mailoutbox == []
    assert events_in(received) == []


def test_production_passes_the_deploy_check_with_error_tracking_and_mail():
    result = deploy_check(
        SENTRY_DSN="https://public@o0.ingest.sentry.io/0",
        DJANGO_ADMINS="ops@example.com,dev@example.com",
        EMAIL_URL="smtp+tls://USER:PASSWORD@smtp.example.com:587",
        DJANGO_SERVER_EMAIL="api@example.com",
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (2 silenced)." in result.stdout


PRINT_ERROR_ROUTES = (
    "import json, django, sentry_sdk; from django.conf import settings; from django.core import "
    "mail; django.setup(); c = mail.get_connection(); print(json.dumps({"
    "'admins': settings.ADMINS, 'from': settings.SERVER_EMAIL, 'sentry': "
    "sentry_sdk.get_client().is_active(), 'mail': [type(c).__module__, getattr(c, 'host', None), "
    "getattr(c, 'port', None), getattr(c, 'username', None), getattr(c, 'use_tls', None), "
    "getattr(c, 'timeout', None)]}))"
)


def test_production_routes_errors_as_the_environment_says():
    result = run(
        PRINT_ERROR_ROUTES,
        **REQUIRED,
        SENTRY_DSN="https://public@o0.ingest.sentry.io/0",
        DJANGO_ADMINS="ops@example.com,dev@example.com",
        EMAIL_URL="smtp+tls://USER:PASSWORD@smtp.example.com:587",
        DJANGO_SERVER_EMAIL="api@example.com",
    )
    assert result.returncode == 0, result.stderr
    routes = json.loads(result.stdout)
    admins = admins_setting("ops@example.com", "dev@example.com")
    assert routes["admins"] == json.loads(json.dumps(admins))  # pairs as JSON lists
    assert routes["from"] == "api@example.com"
    assert routes["sentry"] is True
    assert routes["mail"] == [
        "django.core.mail.backends.smtp",
        "smtp.example.com",
        587,
        "USER",
        True,
        10,
    ]


def test_production_sends_errors_nowhere_by_default():
    result = run(PRINT_ERROR_ROUTES, **REQUIRED)
    assert result.returncode == 0, result.stderr
    routes = json.loads(result.stdout)
    assert routes["admins"] == []
    assert routes["sentry"] is False


def test_admins_without_a_mail_server_are_refused():
    result = run(["manage.py", "check"], **REQUIRED, DJANGO_ADMINS="ops@example.com")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        (
            "Configuration error: DJANGO_ADMINS needs EMAIL_URL, the mail server that sends them "
            "the error reports, e.g. smtp+tls://USER:PASSWORD@smtp.example.com:587"
        )
    ]


def test_a_sentry_dsn_that_is_not_one_is_refused_without_showing_it():
    dsn = "sentry.example.com/not-a-dsn"
    result = run(["manage.py", "check"], **REQUIRED, SENTRY_DSN=dsn)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        (
            "Configuration error: SENTRY_DSN is not a Sentry DSN such as "
            "https://<key>@o0.ingest.sentry.io/0"
        )
    ]
    assert dsn not in result.stderr
