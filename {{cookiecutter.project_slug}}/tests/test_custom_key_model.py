"""A custom key model: an abstract base subclassed with an owner, its own permission and admin."""

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.urls import include, path
from rest_framework.test import APIClient

from {{ cookiecutter.project_slug }}.api_keys.models import APIKey

from .organizations.models import Organization, OrganizationAPIKey
from .organizations.views import OrganizationView

pytestmark = pytest.mark.django_db
urlpatterns = [
    path("organization/", OrganizationView.as_view()),
    path("", include("config.urls")),
]


@pytest.fixture
def organization():
    return Organization.objects.create(name="Acme")


def call(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client.get("/organization/")


@override_settings(ROOT_URLCONF=__name__)
def test_a_custom_key_reaches_its_owner(organization):
    _, key = OrganizationAPIKey.objects.create_key(name="acme-backend", organization=organization)
    response = call(key)
    assert response.status_code == 200
    assert response.json() == {"organization": "Acme"}


@override_settings(ROOT_URLCONF=__name__)
def test_a_key_of_the_default_model_is_refused(organization):
    _, key = APIKey.objects.create_key(name="plain")
    assert call(key).status_code == 401


@override_settings(ROOT_URLCONF=__name__)
def test_get_usable_keys_narrows_who_may_call(organization):
    _, key = OrganizationAPIKey.objects.create_key(name="acme-backend", organization=organization)
    organization.active = False
    organization.save()
    assert not OrganizationAPIKey.objects.is_valid(key)
    assert call(key).status_code == 401


def test_the_custom_model_has_its_own_table_and_the_same_rules(organization):
    api_key, key = OrganizationAPIKey.objects.create_key(name="acme", organization=organization)
    assert OrganizationAPIKey._meta.db_table == "organizations_organizationapikey"
    assert api_key.hashed_key.startswith("sha256$")
    api_key.revoke()
    assert not OrganizationAPIKey.objects.is_valid(key)


def test_the_admin_adds_custom_keys_with_their_owner_field(client, organization):
    admin = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(admin)
    add_url = "/admin/organizations/organizationapikey/add/"
    assert 'name="organization"' in client.get(add_url).content.decode()
    response = client.post(
        add_url,
        {"name": "from admin", "organization": organization.pk, "scopes": ""},
    )
    assert response.status_code == 200, response.content
    key = response.context["key"]
    assert OrganizationAPIKey.objects.get_from_key(key).organization == organization
