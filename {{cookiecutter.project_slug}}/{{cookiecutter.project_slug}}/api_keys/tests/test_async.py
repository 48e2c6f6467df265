"""Checking keys from async code (async views, websocket consumers) without blocking."""

import asyncio

import pytest
from asgiref.sync import async_to_sync
from django.http import JsonResponse
from django.test import AsyncClient, override_settings
from django.urls import path
from rest_framework.exceptions import AuthenticationFailed

from ..authentication import APIKeyAuthentication
from ..models import APIKey
from ..permissions import KeyParser

pytestmark = pytest.mark.django_db


async def async_whoami(request):
    key = KeyParser().get(request)
    try:
        api_key = await APIKeyAuthentication().averify(key or "")
    except AuthenticationFailed as error:
        return JsonResponse({"error": error.get_codes()}, status=401)
    return JsonResponse({"name": api_key.name})


urlpatterns = [path("async-whoami/", async_whoami)]


def test_async_manager_methods():
    async def scenario():
        api_key, key = await APIKey.objects.acreate_key(name="async")
        assert (await APIKey.objects.aget_from_key(key)).pk == api_key.pk
        assert await APIKey.objects.ais_valid(key)
        assert not await APIKey.objects.ais_valid(key[:-1])
        with pytest.raises(APIKey.DoesNotExist):
            await APIKey.objects.aget_from_key("nope")

    async_to_sync(scenario)()


@override_settings(ROOT_URLCONF=__name__)
def test_an_async_view_authenticates_a_key():
    _, key = APIKey.objects.create_key(name="async view")
    get = async_to_sync(AsyncClient().get)
    response = get("/async-whoami/", headers={"Authorization": f"Api-Key {key}"})
    assert response.status_code == 200
    assert response.json() == {"name": "async view"}
    response = get("/async-whoami/", headers={"Authorization": "Api-Key x"})
    assert response.status_code == 401
    assert response.json() == {"error": "malformed_api_key"}
    APIKey.objects.get(name="async view").revoke()
    response = get("/async-whoami/", headers={"Authorization": f"Api-Key {key}"})
    assert response.json() == {"error": "invalid_api_key"}


def test_averify_records_the_key_s_use():
    api_key, key = APIKey.objects.create_key(name="async use")
    async_to_sync(APIKeyAuthentication().averify)(key)
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None


def test_async_checks_leave_the_event_loop_free():
    _, key = APIKey.objects.create_key(name="concurrent")

    async def scenario():
        ticks = 0
        running = True

        async def ticker():
            nonlocal ticks
            while running:
                ticks += 1
                await asyncio.sleep(0)

        tick_task = asyncio.create_task(ticker())
        results = await asyncio.gather(*(APIKey.objects.ais_valid(key) for _ in range(5)))
        running = False
        await tick_task
        return results, ticks

    results, ticks = async_to_sync(scenario)()
    assert results == [True] * 5
    assert ticks > 5  # the loop ran other tasks while the checks waited on the database
