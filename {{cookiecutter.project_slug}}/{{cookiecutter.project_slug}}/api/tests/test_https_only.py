"""Plain HTTP to the API, as production settings configure it: refused, never redirected."""

import logging

import pytest

# production.py's HTTPS_ONLY_PATHS (tests/test_production_settings.py checks it is this).
PRODUCTION_HTTPS_ONLY_PATHS = [r"^api/(?!docs/)"]


@pytest.fixture
def production_https(settings):
    settings.HTTPS_ONLY_PATHS = PRODUCTION_HTTPS_ONLY_PATHS
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^healthz/$"]
    return settings


@pytest.mark.usefixtures("production_https")
def test_plain_http_to_the_api_gets_403_https_required(api_client):
    response = api_client.get("/api/v1/whoami/", HTTP_AUTHORIZATION="Api-Key anything")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "https_required"
    assert error["message"].startswith("Use HTTPS")
    assert response["Cache-Control"] == "no-store"
    assert not response.has_header("Location")


@pytest.mark.usefixtures("production_https")
def test_https_to_the_api_goes_on_to_the_view(api_client):
    response = api_client.get("/api/v1/whoami/", secure=True)
    assert response.status_code == 401  # the view's answer: no key


@pytest.mark.usefixtures("production_https")
def test_x_forwarded_proto_counts_only_when_the_proxy_is_trusted(api_client, settings):
    assert api_client.get("/api/v1/whoami/", HTTP_X_FORWARDED_PROTO="https").status_code == 403
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert api_client.get("/api/v1/whoami/", HTTP_X_FORWARDED_PROTO="https").status_code == 401
    assert api_client.get("/api/v1/whoami/", HTTP_X_FORWARDED_PROTO="http").status_code == 403


@pytest.mark.usefixtures("production_https")
@pytest.mark.parametrize(
    ("path", "status"),
    [("/healthz/", 200), ("/api/docs/", 301), ("/admin/login/", 301)],
    ids=["healthz-answers", "docs-redirect", "admin-redirects"],
)
def test_other_paths_keep_the_https_redirect(client, path, status):
    response = client.get(path)
    assert response.status_code == status
    if status == 301:
        assert response["Location"] == f"https://testserver{path}"


@pytest.mark.usefixtures("production_https")
def test_the_refusal_is_logged_without_the_key(api_client, caplog):
    with caplog.at_level(logging.WARNING):
        api_client.get("/api/v1/keys/?page=2", HTTP_AUTHORIZATION="Api-Key secret-looking-value")
    assert "Refused plain HTTP: GET /api/v1/keys/" in caplog.text
    assert "secret-looking-value" not in caplog.text


def test_development_settings_answer_plain_http(api_client):
    assert api_client.get("/api/v1/whoami/").status_code == 401
