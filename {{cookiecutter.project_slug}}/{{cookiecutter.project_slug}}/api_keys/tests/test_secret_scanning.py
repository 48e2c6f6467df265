"""POST /api/v1/secret-scanning/github/: GitHub's signed leak reports revoke the keys they hold.
GitHub is played by a key pair made here and a key server on 127.0.0.1."""

import base64
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.example_organizations.models import Organization, OrganizationAPIKey

from .. import rates, secret_scanning
from ..checks import check_api_keys_settings
from ..keys import KeyGenerator, checksum
from ..models import APIKey, KeyEvent

pytestmark = pytest.mark.django_db
URL = "/api/v1/secret-scanning/github/"
PROJECT = Path(__file__).resolve().parents[3]
TYPE = "{{ cookiecutter.__key_brand }}_api_key"


class GitHub:
    """GitHub's side: signing keys by identifier, and the server that lists the public ones."""

    def __init__(self) -> None:
        self.private: dict[str, ec.EllipticCurvePrivateKey] = {}
        self.listed: list[str] = []  # identifiers the key server lists
        self.answer_status = 200
        self.fetches = 0

    def add_key(self, identifier: str, *, listed: bool = True) -> None:
        self.private[identifier] = ec.generate_private_key(ec.SECP256R1())
        if listed:
            self.listed.append(identifier)

    def public_keys(self) -> bytes:
        keys = [
            {
                "key_identifier": identifier,
                "key": self.private[identifier]
                .public_key()
                .public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                .decode(),
                "is_current": identifier == self.listed[-1],
            }
            for identifier in self.listed
        ]
        return json.dumps({"public_keys": keys}).encode()

    def sign(self, body: bytes, identifier: str) -> str:
        signature = self.private[identifier].sign(body, ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(signature).decode()


@pytest.fixture
def github(api_keys_options: Any) -> Iterator[GitHub]:
    """A key server on 127.0.0.1, listing key "k1", that API_KEYS points at."""
    state = GitHub()
    state.add_key("k1")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.fetches += 1
            body = state.public_keys() if state.answer_status == 200 else b"oops"
            self.send_response(state.answer_status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    api_keys_options(SECRET_SCANNING_KEYS_URL=f"http://127.0.0.1:{server.server_port}/keys")
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    """The rate windows' clock, stopped at the start of a minute; tests move it."""
    now = {"now": 1_800_000_000.0}
    monkeypatch.setattr(rates, "clock", lambda: now["now"])
    return now


def leak(token: str) -> dict[str, str]:
    return {
        "token": token,
        "type": TYPE,
        "url": "https://github.com/octocat/Hello-World/blob/main/settings.py",
        "source": "content",
    }


def report(client: Any, github: GitHub, body: Any, identifier: str = "k1", **headers: str) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    signed = {
        "HTTP_GITHUB_PUBLIC_KEY_IDENTIFIER": identifier,
        "HTTP_GITHUB_PUBLIC_KEY_SIGNATURE": github.sign(raw, identifier),
    }
    return client.post(URL, raw, content_type="application/json", **{**signed, **headers})


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def unknown_key() -> str:
    """A key of the right form and checksum that no row has."""
    return KeyGenerator().generate()[0]


def events_of(api_key: APIKey) -> list[KeyEvent]:
    return list(KeyEvent.objects.filter(lookup_id=api_key.lookup_id, action="revoked"))


def test_a_signed_report_revokes_the_live_key_and_answers_true_positive(api_client, github):
    api_key, key = APIKey.objects.create_key(name="billing")
    response = report(api_client, github, [leak(key)])
    assert response.status_code == 200
    assert response.json() == [
        {"token_hash": sha256(key), "token_type": TYPE, "label": "true_positive"}
    ]
    api_key.refresh_from_db()
    assert api_key.revoked
    [event] = events_of(api_key)
    assert (event.reason, event.actor_kind, event.actor_name) == (
        "leak_report",
        "leak_report",
        "github",
    )
    assert event.address == "127.0.0.1"


def test_a_revoked_key_refuses_requests_after_the_report(api_client, github):
    _, key = APIKey.objects.create_key(name="billing")
    report(api_client, github, [leak(key)])
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert api_client.get("/api/v1/whoami/").status_code == 401


def test_a_key_of_a_custom_model_is_found_and_revoked(api_client, github):
    owner = Organization.objects.create(name="Acme")
    api_key, key = OrganizationAPIKey.objects.create_key(name="acme", organization=owner)
    assert report(api_client, github, [leak(key)]).json()[0]["label"] == "true_positive"
    api_key.refresh_from_db()
    assert api_key.revoked


def test_tokens_that_are_no_key_of_ours_are_false_positives(api_client, github):
    api_key, key = APIKey.objects.create_key(name="billing")
    body = key[: -len(checksum(""))]
    wrong_checksum = body + ("000000" if not key.endswith("000000") else "000001")
    wrong_secret = body[:-1] + ("a" if body[-1] != "a" else "b")
    wrong_secret += checksum(wrong_secret)
    tokens = [unknown_key(), wrong_checksum, wrong_secret, "ghp_notours", "x" * 1000]
    response = report(api_client, github, [leak(token) for token in tokens])
    assert response.status_code == 200
    assert [row["label"] for row in response.json()] == ["false_positive"] * len(tokens)
    assert [row["token_hash"] for row in response.json()] == [sha256(t) for t in tokens]
    api_key.refresh_from_db()
    assert not api_key.revoked


def test_the_answer_never_holds_a_token(api_client, github):
    api_key, key = APIKey.objects.create_key(name="billing")
    other = unknown_key()
    response = report(api_client, github, [leak(key), leak(other)])
    body = response.content.decode()
    for secret in (key, other, api_key.hashed_key, key.split("_")[-1]):
        assert secret not in body


def test_the_same_report_twice_is_harmless(api_client, github):
    api_key, key = APIKey.objects.create_key(name="billing")
    first = report(api_client, github, [leak(key), leak(key)])
    second = report(api_client, github, [leak(key)])
    assert [row["label"] for row in first.json()] == ["true_positive", "true_positive"]
    assert second.json()[0]["label"] == "true_positive"
    assert len(events_of(api_key)) == 1


def test_a_child_key_is_revoked_with_its_reported_parent(api_client, github):
    parent, key = APIKey.objects.create_key(name="parent")
    child, _ = APIKey.objects.create_key(name="child", parent=parent)
    report(api_client, github, [leak(key)])
    child.refresh_from_db()
    assert child.revoked


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_GITHUB_PUBLIC_KEY_IDENTIFIER": ""},
        {"HTTP_GITHUB_PUBLIC_KEY_SIGNATURE": ""},
        {"HTTP_GITHUB_PUBLIC_KEY_SIGNATURE": "bm90IGEgc2lnbmF0dXJl"},  # base64, not DER
        {"HTTP_GITHUB_PUBLIC_KEY_SIGNATURE": "%%% not base64 %%%"},
    ],
    ids=["no identifier", "no signature", "not a signature", "not base64"],
)
def test_a_report_without_a_good_signature_gets_403_and_changes_nothing(
    api_client, github, headers
):
    api_key, key = APIKey.objects.create_key(name="billing")
    response = report(api_client, github, [leak(key)], **headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] in ("signature_required", "invalid_signature")
    assert github.fetches == 0  # refused before GitHub's keys are looked for
    api_key.refresh_from_db()
    assert not api_key.revoked


def test_a_report_signed_by_another_key_gets_403(api_client, github):
    api_key, key = APIKey.objects.create_key(name="billing")
    github.add_key("forger", listed=False)
    raw = json.dumps([leak(key)]).encode()
    response = api_client.post(
        URL,
        raw,
        content_type="application/json",
        HTTP_GITHUB_PUBLIC_KEY_IDENTIFIER="k1",
        HTTP_GITHUB_PUBLIC_KEY_SIGNATURE=github.sign(raw, "forger"),
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_signature"
    api_key.refresh_from_db()
    assert not api_key.revoked


def test_a_signature_of_another_body_gets_403(api_client, github):
    api_key, key = APIKey.objects.create_key(name="billing")
    signature = github.sign(json.dumps([leak(unknown_key())]).encode(), "k1")
    response = report(api_client, github, [leak(key)], HTTP_GITHUB_PUBLIC_KEY_SIGNATURE=signature)
    assert response.status_code == 403
    api_key.refresh_from_db()
    assert not api_key.revoked


def test_an_identifier_github_does_not_list_gets_403(api_client, github, clock):
    api_key, key = APIKey.objects.create_key(name="billing")
    github.add_key("unlisted", listed=False)
    response = report(api_client, github, [leak(key)], identifier="unlisted")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_signature"
    api_key.refresh_from_db()
    assert not api_key.revoked


def test_the_public_keys_are_fetched_again_when_github_rotates_its_key(api_client, github, clock):
    _, first = APIKey.objects.create_key(name="first")
    assert report(api_client, github, [leak(first)]).status_code == 200
    github.add_key("k2")  # GitHub's new key, unknown to the cached list
    clock["now"] += 60  # the next fetch window
    _, second = APIKey.objects.create_key(name="second")
    response = report(api_client, github, [leak(second)], identifier="k2")
    assert response.status_code == 200
    assert response.json()[0]["label"] == "true_positive"
    assert github.fetches == 2


def test_the_cached_keys_serve_later_reports_without_a_fetch(api_client, github, clock):
    for _ in range(3):
        assert report(api_client, github, [leak(unknown_key())]).status_code == 200
    assert github.fetches == 1


def test_made_up_identifiers_fetch_at_most_once_per_window(api_client, github, clock):
    for number in range(5):
        github.add_key(f"made-up-{number}", listed=False)
        response = report(api_client, github, [leak(unknown_key())], identifier=f"made-up-{number}")
        assert response.status_code == 403
    assert github.fetches == 1


@pytest.mark.parametrize("answer_status", [500, 200])
def test_a_key_server_that_fails_gets_503_and_changes_nothing(
    api_client, github, answer_status, monkeypatch
):
    api_key, key = APIKey.objects.create_key(name="billing")
    github.answer_status = answer_status
    if answer_status == 200:  # an answer that is no list of keys
        monkeypatch.setattr(GitHub, "public_keys", lambda self: b'{"public_keys": 5}')
    response = report(api_client, github, [leak(key)])
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "public_keys_unavailable"
    assert int(response["Retry-After"]) > 0
    api_key.refresh_from_db()
    assert not api_key.revoked


def test_a_key_server_that_is_down_gets_503(api_client, github, api_keys_options):
    api_key, key = APIKey.objects.create_key(name="billing")
    api_keys_options(SECRET_SCANNING_KEYS_URL="http://127.0.0.1:9/keys")  # discard: nobody
    response = report(api_client, github, [leak(key)])
    assert response.status_code == 503
    assert "Retry-After" in response
    api_key.refresh_from_db()
    assert not api_key.revoked


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[" * 100_000,
        {"token": "a dict, not a list"},
        [{"type": TYPE}],  # no token
        [{"token": ["a", "list"], "type": TYPE}],
        ["a string"],
    ],
    ids=["text", "not utf-8", "nested", "dict", "no token", "list", "string"],
)
def test_a_malformed_signed_body_gets_400(api_client, github, body):
    response = report(api_client, github, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("parse_error", "invalid")


def test_a_report_of_too_many_tokens_gets_400(api_client, github, monkeypatch):
    monkeypatch.setattr(secret_scanning, "MAX_TOKENS", 3)
    api_key, key = APIKey.objects.create_key(name="billing")
    response = report(api_client, github, [leak(key)] + [leak(unknown_key()) for _ in range(3)])
    assert response.status_code == 400
    api_key.refresh_from_db()
    assert not api_key.revoked


def test_a_body_too_large_gets_413(api_client, github, monkeypatch):
    monkeypatch.setattr(secret_scanning, "MAX_BODY_BYTES", 100)
    response = report(api_client, github, [leak(unknown_key()) for _ in range(3)])
    assert response.status_code == 413
    assert github.fetches == 0  # refused before anything is fetched


def test_reports_are_rate_limited_per_address(api_client, github, clock, monkeypatch):
    monkeypatch.setattr(secret_scanning.ReportThrottle, "rate", "3/min")
    for _ in range(3):
        assert report(api_client, github, []).status_code == 200
    refused = report(api_client, github, [])
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "throttled"
    assert int(refused["Retry-After"]) == 60
    other = report(api_client, github, [], REMOTE_ADDR="203.0.113.9")
    assert other.status_code == 200


def test_the_endpoint_is_in_the_openapi_schema(api_client):
    schema = api_client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"][URL]["post"]
    assert set(operation["responses"]) >= {"200", "400", "403", "413", "429", "503"}
    assert operation["requestBody"]["content"]["application/json"]["schema"]["type"] == "array"


def test_the_regular_expression_in_the_docs_is_the_one_keys_are_made_to():
    page = (PROJECT / "docs" / "security.md").read_text()
    [shown] = re.findall(r"^```text\n(\\b.*)\n```$", page, re.MULTILINE)
    assert shown == KeyGenerator().key_pattern()
    _, key = APIKey.objects.create_key(name="billing")
    assert re.search(shown, f"API_KEY={key}\n") is not None


@pytest.mark.parametrize(
    ("url", "good"),
    [
        ("https://api.github.com/meta/public_keys/secret_scanning", True),
        ("http://127.0.0.1:8000/keys", True),
        ("http://localhost/keys", True),
        ("http://api.github.com/meta/public_keys/secret_scanning", False),  # in clear
        ("file:///etc/passwd", False),
        ("https://", False),
        ("http://[::1", False),
        (None, False),
    ],
)
def test_the_system_check_refuses_a_keys_url_that_is_not_https(api_keys_options, url, good):
    api_keys_options(SECRET_SCANNING_KEYS_URL=url)
    errors = [error.msg for error in check_api_keys_settings()]
    assert (errors == []) is good, errors


def test_a_content_length_that_is_no_number_gets_400_and_changes_nothing(api_client, github):
    api_key, key = APIKey.objects.create_key(name="leaked")
    response = report(api_client, github, [leak(key)], CONTENT_LENGTH="abc")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    api_key.refresh_from_db()
    assert not api_key.revoked
