"""The project's own user model: the people who sign in to the admin to manage keys."""

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command

from ..models import User

pytestmark = pytest.mark.django_db


def test_the_user_model_is_the_project_s_own():
    assert settings.AUTH_USER_MODEL == "users.User"
    assert get_user_model() is User


def test_createsuperuser_makes_a_person_who_can_manage_keys_in_the_admin(client, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long and unusual passphrase")
    call_command("createsuperuser", "--no-input", username="ada", email="ada@example.com")
    assert client.login(username="ada", password="a long and unusual passphrase")
    for url in ("/admin/users/user/", "/admin/users/user/add/", "/admin/api_keys/apikey/add/"):
        assert client.get(url).status_code == 200, url


def test_a_user_s_page_in_the_admin_shows_the_user(admin_client, admin_user):
    response = admin_client.get(f"/admin/users/user/{admin_user.pk}/change/")
    assert response.status_code == 200
    assert admin_user.username in response.content.decode()
