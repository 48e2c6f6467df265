"""The production run the generated docs/deploying.md describes: gunicorn (with the project's
gunicorn.conf.py), config.settings.production, the environment variables it names,
collectstatic, and a TLS-terminating proxy in front."""

import http.client
import json
from urllib.parse import urlsplit

import pytest

from tests.baking import BakedProject, skip_without_services
from tests.servers import SERVED_BAKES, Server, get, served_project

HSTS = "Strict-Transport-Security"


def plain_http_get(
    server: Server, path: str, headers: dict[str, str]
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """GET straight to gunicorn with exactly `headers`: no X-Forwarded-Proto unless given."""
    connection = http.client.HTTPConnection(urlsplit(server.base_url).netloc, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("baked", SERVED_BAKES, indirect=True, ids=lambda b: b.id)
def test_gunicorn_serves_the_api_and_the_admin_behind_a_proxy(baked: BakedProject, tmp_path):
    skip_without_services(baked)
    # The proxy's two variables, as docs/deploying.md sets them (servers.py sets the first).
    with served_project(baked, tmp_path, collect_static=True, DJANGO_NUM_PROXIES="1") as server:
        key = server.create_key("production check")

        status, _, body = server.get("/healthz/")
        assert (status, body) == (200, b'{"status":"ok"}')
        # Load balancers probe over plain HTTP: /healthz/ is exempt from the HTTPS redirect.
        assert get(server.url("/healthz/"))[0] == 200

        status, headers, body = server.get("/api/v1/whoami/", key=key)
        assert status == 200, body
        assert b'"name":"production check"' in body
        assert headers[HSTS] == "max-age=31536000"  # subdomains and preload: only when opted in
        assert headers["Cache-Control"] == "no-store"
        assert headers["X-Content-Type-Options"] == "nosniff"

        status, headers, _ = server.get("/api/v1/whoami/")
        assert (status, headers["WWW-Authenticate"]) == (401, "Api-Key")

        # Without the proxy's X-Forwarded-Proto the request came over plain HTTP: the API refuses
        # it, so that a client that sent its key in clear learns it; the admin redirects.
        status, headers, body = plain_http_get(
            server, "/api/v1/whoami/", {"Authorization": f"Api-Key {key}"}
        )
        assert (status, headers["Location"]) == (403, None)
        assert json.loads(body)["error"]["code"] == "https_required"
        status, headers, _ = plain_http_get(server, "/admin/login/", {})
        assert status == 301
        assert headers["Location"].startswith("https://")

        status, headers, body = server.get("/admin/login/")
        assert status == 200
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY"
        stylesheet = next(
            line.split('href="', 1)[1].split('"', 1)[0]
            for line in body.decode().splitlines()
            if 'rel="stylesheet"' in line and "/static/admin/css/" in line
        )
        status, headers, _ = server.get(stylesheet)  # the hashed name collectstatic wrote
        assert status == 200
        assert headers["Content-Type"].startswith("text/css")

        status, _, _ = server.get("/api/docs/")
        assert status == 404  # Swagger UI stays off in production unless DJANGO_API_DOCS=true


@pytest.mark.parametrize("trusted", [False, True], ids=["proxy-variable-unset", "proxy-trusted"])
def test_gunicorn_trusts_x_forwarded_proto_only_as_the_project_does(
    default_project: BakedProject, tmp_path, trusted: bool
):
    """A plain-HTTP request from 127.0.0.1 that carries `X-Forwarded-Proto: https` is HTTPS only
    when DJANGO_SECURE_PROXY_SSL_HEADER says a proxy sets that header. gunicorn alone trusts it
    from loopback; the project's gunicorn.conf.py makes gunicorn follow the variable."""
    variable = "true" if trusted else None
    with served_project(
        default_project, tmp_path, workers=1, threads=1, DJANGO_SECURE_PROXY_SSL_HEADER=variable
    ) as server:
        forwarded = {"X-Forwarded-Proto": "https"}
        health_status, health_headers, _ = plain_http_get(server, "/healthz/", forwarded)
        api_status, _, api_body = plain_http_get(server, "/api/v1/whoami/", forwarded)
        # Another header gunicorn knows by default, which a proxy that sets only
        # X-Forwarded-Proto would pass on from a client: never a sign of HTTPS here.
        ssl_on_status, _, _ = plain_http_get(server, "/api/v1/whoami/", {"X-Forwarded-Ssl": "on"})

    assert health_status == 200
    # SecurityMiddleware sends HSTS only on requests it takes for HTTPS.
    assert (health_headers[HSTS] is not None) is trusted
    # 401 is the view's answer to a request without a key; 403 the refusal of plain HTTP.
    assert api_status == (401 if trusted else 403), api_body
    assert ssl_on_status == 403
