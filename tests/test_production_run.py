"""The production run the generated README describes: gunicorn, config.settings.production,
the environment variables it lists, collectstatic, and a TLS-terminating proxy in front."""

import http.client
from urllib.parse import urlsplit

import pytest

from tests.baking import BakedProject, skip_without_services
from tests.servers import SERVED_BAKES, get, served_project

pytestmark = pytest.mark.parametrize("baked", SERVED_BAKES, indirect=True, ids=lambda b: b.id)


def test_gunicorn_serves_the_api_and_the_admin_behind_a_proxy(baked: BakedProject, tmp_path):
    skip_without_services(baked)
    with served_project(baked, tmp_path, collect_static=True) as server:
        key = server.create_key("production check")

        status, _, body = server.get("/healthz/")
        assert (status, body) == (200, b'{"status":"ok"}')
        # Load balancers probe over plain HTTP: /healthz/ is exempt from the HTTPS redirect.
        assert get(server.url("/healthz/"))[0] == 200

        status, headers, body = server.get("/api/v1/whoami/", key=key)
        assert status == 200, body
        assert b'"name":"production check"' in body
        hsts = headers["Strict-Transport-Security"]
        assert hsts == "max-age=31536000; includeSubDomains; preload"
        assert headers["Cache-Control"] == "no-store"
        assert headers["X-Content-Type-Options"] == "nosniff"

        status, headers, _ = server.get("/api/v1/whoami/")
        assert (status, headers["WWW-Authenticate"]) == (401, "Api-Key")

        # Without the proxy's X-Forwarded-Proto the request counts as plain HTTP: redirected.
        connection = http.client.HTTPConnection(urlsplit(server.base_url).netloc, timeout=10)
        connection.request("GET", "/api/v1/whoami/", headers={"Authorization": f"Api-Key {key}"})
        redirect = connection.getresponse()
        connection.close()
        assert redirect.status == 301
        assert redirect.headers["Location"].startswith("https://")

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
