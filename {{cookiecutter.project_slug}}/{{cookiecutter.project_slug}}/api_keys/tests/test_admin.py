"""The admin flow: create a key and see it once, view keys, revoke for good."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from ..models import APIKey

pytestmark = pytest.mark.django_db
ADD_URL = reverse("admin:api_keys_apikey_add")
LIST_URL = reverse("admin:api_keys_apikey_changelist")


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw-for-tests")
    client.force_login(user)
    return client


def create_in_admin(admin_client, name="partner"):
    response = admin_client.post(ADD_URL, {"name": name, "expiry_date_0": "", "expiry_date_1": ""})
    assert response.status_code == 200, response.content
    api_key = APIKey.objects.get(name=name)
    key = response.context["key"]
    return response, api_key, key


def test_created_key_is_shown_once_on_the_answer_page(admin_client, api_client):
    response, api_key, key = create_in_admin(admin_client)
    assert key in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert api_client.get("/api/v1/whoami/").json()["lookup_id"] == api_key.lookup_id

    change_url = reverse("admin:api_keys_apikey_change", args=[api_key.pk])
    for url in (change_url, LIST_URL):
        page = admin_client.get(url).content.decode()
        assert api_key.lookup_id in page
        assert key not in page


def test_created_key_goes_into_no_cookie_and_no_message(admin_client):
    response, _, key = create_in_admin(admin_client)
    for cookie in response.cookies.values():
        assert key not in cookie.value
    assert list(response.context["messages"]) == []


def test_the_key_page_answers_the_post_and_forgets_it_on_reload(admin_client):
    response, api_key, _ = create_in_admin(admin_client)
    page = response.content.decode()
    change_url = reverse("admin:api_keys_apikey_change", args=[api_key.pk])
    assert "forget-form-post.js" in page
    assert f'data-location="{change_url}"' in page


def test_admin_lists_keys_with_their_state(admin_client):
    active, _ = APIKey.objects.create_key(name="active one")
    revoked, _ = APIKey.objects.create_key(name="revoked one")
    revoked.revoke()
    page = admin_client.get(LIST_URL).content.decode()
    assert active.lookup_id in page
    assert revoked.lookup_id in page
    assert admin_client.get(LIST_URL, {"q": "active"}).content.decode().count("active one") >= 1


def test_admin_revokes_a_key(admin_client, api_client):
    api_key, key = APIKey.objects.create_key(name="partner")
    change_url = reverse("admin:api_keys_apikey_change", args=[api_key.pk])
    response = admin_client.post(
        change_url, {"name": "partner", "expiry_date_0": "", "expiry_date_1": "", "revoked": "on"}
    )
    assert response.status_code == 302
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert api_client.get("/api/v1/whoami/").status_code == 401


def test_admin_cannot_unrevoke_a_key(admin_client):
    api_key, _ = APIKey.objects.create_key(name="partner")
    api_key.revoke()
    change_url = reverse("admin:api_keys_apikey_change", args=[api_key.pk])
    page = admin_client.get(change_url).content.decode()
    assert 'name="revoked"' not in page  # shown read-only
    admin_client.post(change_url, {"name": "renamed", "expiry_date_0": "", "expiry_date_1": ""})
    api_key.refresh_from_db()
    assert api_key.revoked
    assert api_key.name == "partner"
