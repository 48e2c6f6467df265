"""Customising keys as djangorestframework-api-key documents it, with only the imports changed:
a key model of your own with its own permission class, manager and admin; another keyword or
header for the key; `HasAPIKey | IsAuthenticated`. One verification path serves them all."""

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import override_settings
from django.urls import include, path
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from {{ cookiecutter.project_slug }}.api_keys import rates
from {{ cookiecutter.project_slug }}.api_keys.models import APIKey
from {{ cookiecutter.project_slug }}.api_keys.permissions import (
    BaseHasAPIKey,
    HasAPIKey,
    KeyParser,
)

from .example_organizations.models import Organization, OrganizationAPIKey
from .example_organizations.views import OrganizationView

pytestmark = pytest.mark.django_db


class BearerKeyParser(KeyParser):
    keyword = "Bearer"


class HasAPIKeyAsBearer(BaseHasAPIKey):
    model = APIKey
    key_parser = BearerKeyParser()


class HasAPIKeyInPartnerHeader(BaseHasAPIKey):
    model = APIKey

    def get_key(self, request: Request) -> str | None:
        return request.META.get("HTTP_X_PARTNER_KEY")


def view_with(*permissions: Any) -> type[APIView]:
    class KeyNameView(APIView):
        permission_classes = list(permissions)

        def get(self, request: Request) -> Response:
            api_key = request.auth
            return Response({"key": api_key.name if api_key else None, "user": str(request.user)})

    return KeyNameView


urlpatterns = [
    path("organization/", OrganizationView.as_view()),
    path("bearer/", view_with(HasAPIKeyAsBearer).as_view()),
    path("partner/", view_with(HasAPIKeyInPartnerHeader).as_view()),
    path("key-or-login/", view_with(HasAPIKey | IsAuthenticated).as_view()),
    path("", include("config.urls")),
]
use_these_urls = override_settings(ROOT_URLCONF=__name__)


@pytest.fixture
def organization():
    return Organization.objects.create(name="Acme")


@pytest.fixture
def org_key(organization):
    return OrganizationAPIKey.objects.create_key(
        name="acme-backend", organization=organization, scopes=["organization:read"]
    )


def get(url, key=None, **headers):
    client = APIClient()
    if key is not None:
        headers.setdefault("HTTP_AUTHORIZATION", f"Api-Key {key}")
    return client.get(url, **headers)


def error_code(response):
    return response.json()["error"]["code"]


@use_these_urls
def test_a_custom_model_key_is_accepted_by_its_permission_alone(org_key):
    response = get("/organization/", org_key[1])
    assert response.status_code == 200, response.content
    assert response.json() == {"organization": "Acme"}


@use_these_urls
def test_a_key_of_another_model_is_refused_with_401(organization):
    _, key = APIKey.objects.create_key(name="plain", scopes=["organization:read"])
    response = get("/organization/", key)
    assert response.status_code == 401
    assert error_code(response) == "invalid_api_key"
    assert response["WWW-Authenticate"] == "Api-Key"


@use_these_urls
def test_a_view_s_own_permission_classes_still_enforce_its_scopes(organization):
    _, key = OrganizationAPIKey.objects.create_key(name="no scopes", organization=organization)
    response = get("/organization/", key)
    assert response.status_code == 403
    assert error_code(response) == "missing_scope"
    assert "organization:read" in response.json()["error"]["message"]


@use_these_urls
def test_deactivating_the_owner_refuses_its_keys_on_the_next_request(organization, org_key):
    assert get("/organization/", org_key[1]).status_code == 200
    Organization.objects.filter(pk=organization.pk).update(active=False)
    assert get("/organization/", org_key[1]).status_code == 401
    assert not OrganizationAPIKey.objects.is_valid(org_key[1])
    organization.active = True
    organization.save()
    assert get("/organization/", org_key[1]).status_code == 200


@use_these_urls
def test_deleting_the_owner_refuses_its_keys(organization, org_key):
    assert get("/organization/", org_key[1]).status_code == 200
    Organization.objects.filter(pk=organization.pk).delete()
    assert get("/organization/", org_key[1]).status_code == 401


@use_these_urls
def test_a_custom_model_key_is_throttled_logged_and_recorded(org_key, caplog, monkeypatch):
    api_key, key = org_key
    api_key.throttle_rate = "2/min"
    api_key.save()
    now = 1_800_000_030.0  # mid-minute: the three requests count in one window
    monkeypatch.setattr(rates, "clock", lambda: now)
    with caplog.at_level("INFO", logger="api_keys.usage"):
        statuses = [get("/organization/", key).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None
    logged = [record.getMessage() for record in caplog.records if record.name == "api_keys.usage"]
    assert len(logged) == 3
    assert all(f'key={api_key.lookup_id} name="acme-backend"' in line for line in logged)


@use_these_urls
def test_a_custom_model_key_is_checked_with_one_query(org_key, django_assert_num_queries):
    get("/organization/", org_key[1])  # records the first use
    with django_assert_num_queries(2):  # the key (with its owner's state), then the owner's name
        assert get("/organization/", org_key[1]).status_code == 200


@use_these_urls
def test_a_permission_s_key_parser_decides_the_keyword(api_key):
    _, key = api_key
    assert get("/bearer/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
    refused = get("/bearer/", key)  # Api-Key <key>: not what this view reads
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == "Bearer"


@use_these_urls
def test_a_permission_s_get_key_decides_where_the_key_is_read(api_key):
    _, key = api_key
    assert get("/partner/", HTTP_X_PARTNER_KEY=key).status_code == 200
    assert get("/partner/", key).status_code == 401


@use_these_urls
def test_has_api_key_or_is_authenticated_admits_either(api_key, client):
    _, key = api_key
    with_key = get("/key-or-login/", key)
    assert with_key.status_code == 200
    assert with_key.json()["key"] == "test client"
    user = get_user_model().objects.create_user("ops", password="pw")
    client.force_login(user)
    logged_in = client.get("/key-or-login/")
    assert logged_in.status_code == 200
    assert logged_in.json() == {"key": None, "user": "ops"}
    assert get("/key-or-login/").status_code == 401


def test_the_custom_model_has_its_own_table_and_the_same_rules(organization):
    api_key, key = OrganizationAPIKey.objects.create_key(name="acme", organization=organization)
    assert OrganizationAPIKey._meta.db_table == "example_organizations_organizationapikey"
    assert api_key.hashed_key.startswith("sha256$")
    api_key.revoke()
    assert not OrganizationAPIKey.objects.is_valid(key)


def test_an_admin_subclass_lists_and_searches_the_owner(client, organization, org_key):
    admin = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(admin)
    page = client.get("/admin/example_organizations/organizationapikey/", {"q": "Acme"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "acme-backend" in text
    assert "Acme" in text


def test_the_admin_adds_custom_keys_with_their_owner_field(client, organization):
    admin = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(admin)
    add_url = "/admin/example_organizations/organizationapikey/add/"
    assert 'name="organization"' in client.get(add_url).content.decode()
    response = client.post(
        add_url,
        {"name": "from admin", "organization": organization.pk, "scopes": ""},
    )
    assert response.status_code == 200, response.content
    key = response.context["key"]
    assert OrganizationAPIKey.objects.get_from_key(key).organization == organization


@pytest.mark.parametrize(
    "lookup",
    [
        "hashed_key__startswith",
        "rotated_from__hashed_key__startswith",
        "organization__api_keys__hashed_key__startswith",
    ],
)
def test_an_admin_subclass_refuses_to_filter_on_a_stored_hash(client, org_key, lookup):
    viewer = get_user_model().objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_organizationapikey"))
    client.force_login(viewer)
    url = "/admin/example_organizations/organizationapikey/"
    assert client.get(url).status_code == 200
    assert client.get(url, {lookup: org_key[0].hashed_key[:12]}).status_code == 400
