"""Rate limits per key: who is counted, which rate applies, and what a throttled client sees."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.urls import include, path, reverse
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from .. import rates, throttling
from ..keys import checksum
from ..models import APIKey
from ..permissions import HasAPIKey
from ..throttling import APIKeyRateThrottle

pytestmark = pytest.mark.django_db
WHOAMI = "/api/v1/whoami/"
# 30 seconds into a minute: a test never straddles two counting windows.
START = 1_800_000_030.0


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    """The counters' time, fixed at START; move it with `clock["now"] += seconds`."""
    now = {"now": START}
    monkeypatch.setattr(rates, "clock", lambda: now["now"])
    return now


@pytest.fixture
def default_rate(settings):
    def set_rate(rate):
        settings.API_KEYS = {**settings.API_KEYS, "THROTTLE_RATE": rate}

    return set_rate


def client_for(api_client, key):
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return api_client


def statuses(client, count, url=WHOAMI):
    return [client.get(url).status_code for _ in range(count)]


def test_a_key_over_its_limit_gets_429_with_retry_after_and_the_error_shape(
    keyed_client, default_rate
):
    default_rate("2/min")
    assert statuses(keyed_client, 2) == [200, 200]
    response = keyed_client.get(WHOAMI)
    assert response.status_code == 429
    assert response["Retry-After"] == "30"
    assert response.json() == {
        "error": {
            "code": "throttled",
            "message": "Request was throttled. Expected available in 30 seconds.",
        }
    }


def test_the_key_is_served_again_in_the_next_window(keyed_client, default_rate, clock):
    default_rate("1/min")
    assert statuses(keyed_client, 2) == [200, 429]
    clock["now"] += 30
    assert statuses(keyed_client, 2) == [200, 429]


def test_the_limit_is_per_key(api_client, default_rate):
    default_rate("2/min")
    _, first = APIKey.objects.create_key(name="first")
    _, second = APIKey.objects.create_key(name="second")
    assert statuses(client_for(api_client, first), 3) == [200, 200, 429]
    assert statuses(client_for(api_client, second), 3) == [200, 200, 429]


def test_a_key_s_own_rate_beats_the_default(api_client, default_rate):
    default_rate("2/min")
    _, generous = APIKey.objects.create_key(name="generous", throttle_rate="4/min")
    _, strict = APIKey.objects.create_key(name="strict", throttle_rate="1/min")
    assert statuses(client_for(api_client, generous), 5) == [200] * 4 + [429]
    assert statuses(client_for(api_client, strict), 2) == [200, 429]


def test_a_key_s_own_rate_applies_when_the_default_is_none(api_client, default_rate):
    default_rate(None)
    _, key = APIKey.objects.create_key(name="limited", throttle_rate="1/min")
    assert statuses(client_for(api_client, key), 2) == [200, 429]


def test_none_turns_the_default_limit_off(api_key, default_rate):
    default_rate(None)
    request = Request(APIRequestFactory().get(WHOAMI))
    request.auth = api_key[0]
    throttle = APIKeyRateThrottle()
    # More than the built-in default of 1000/min allows.
    assert all(throttle.allow_request(request, None) for _ in range(1001))


def test_the_cache_entry_is_named_by_lookup_id_and_holds_no_secret(
    keyed_client, api_key, monkeypatch
):
    names: list[str] = []
    count_hits = rates.count_hits

    def recording(windows, tally=None):
        names.extend(window.name for window in windows)
        names.append(tally)
        return count_hits(windows, tally)

    monkeypatch.setattr(throttling, "count_hits", recording)
    assert keyed_client.get(WHOAMI).status_code == 200
    api_key_object, key = api_key
    secret = key.split("_")[2][:32]
    assert names
    for name in names:
        assert api_key_object.lookup_id in name
        assert secret not in name


class KeyOnlyView(APIView):
    """HasAPIKey on its own: the key is checked, request.auth stays empty."""

    authentication_classes = []
    permission_classes = [HasAPIKey]

    def get(self, request):
        return Response({})


class OpenView(APIView):
    """Checks no key at all."""

    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request):
        return Response({})


URLS = (
    path("key-only/", KeyOnlyView.as_view()),
    path("open/", OpenView.as_view()),
    path("", include("config.urls")),
)


@override_settings(ROOT_URLCONF=URLS)
def test_has_api_key_alone_is_throttled_by_the_key_s_lookup_id(keyed_client, default_rate):
    default_rate("3/min")
    assert statuses(keyed_client, 2, "/key-only/") == [200, 200]
    assert statuses(keyed_client, 2) == [200, 429]  # the same key, the same count
    assert keyed_client.get("/key-only/").status_code == 429


@override_settings(ROOT_URLCONF=URLS)
def test_a_forged_key_with_someone_s_lookup_id_does_not_use_up_their_requests(
    keyed_client, api_client, api_key, default_rate
):
    default_rate("2/min")
    body = f"{APIKey.objects.key_generator.brand}_{api_key[0].lookup_id}_{'x' * 32}"
    forger = client_for(APIClient(), body + checksum(body))
    assert statuses(forger, 3, "/open/") == [200, 200, 200]
    assert statuses(keyed_client, 3) == [200, 200, 429]


def test_a_bad_rate_on_a_key_is_refused_with_a_clear_message():
    api_key, _ = APIKey.objects.create_key(name="partner")
    for rate in ("100/min", "5/s", "10000/day"):
        api_key.throttle_rate = rate
        api_key.full_clean()
    for rate in ("lots", "100/fortnight", "100 / min", "min/100", "-1/min"):
        api_key.throttle_rate = rate
        with pytest.raises(ValidationError) as error:
            api_key.full_clean()
        assert "is not a rate" in str(error.value.message_dict["throttle_rate"])


def test_the_admin_refuses_a_bad_rate(client):
    admin = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(admin)
    response = client.post(
        reverse("admin:api_keys_apikey_add"),
        {"name": "partner", "expiry_date_0": "", "expiry_date_1": "", "throttle_rate": "lots"},
    )
    assert response.status_code == 200
    assert "&#x27;lots&#x27; is not a rate. Write requests/period" in response.content.decode()
    assert not APIKey.objects.filter(name="partner").exists()


def test_refused_keys_from_one_address_are_answered_429_past_the_rate(
    api_client, api_key, api_keys_options, django_assert_num_queries
):
    api_keys_options(REFUSAL_RATE="3/min")
    wrong = APIKey.objects.key_generator.generate()[0]  # well formed, unknown: one query each
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {wrong}")
    statuses = [api_client.get("/api/v1/whoami/").status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    with django_assert_num_queries(0):  # refused before any query
        blocked = api_client.get("/api/v1/whoami/")
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "throttled"
    assert 0 < int(blocked["Retry-After"]) <= 60
    # Another address is not affected.
    _, key = api_key
    other = APIClient().get(
        "/api/v1/whoami/", HTTP_AUTHORIZATION=f"Api-Key {key}", REMOTE_ADDR="192.0.2.9"
    )
    assert other.status_code == 200


PROXY = "10.0.0.2"  # a TLS proxy in front, which appends each client's address


@pytest.mark.parametrize(("proxies", "other_client_answer"), [(1, 200), (0, 429)])
def test_behind_a_counted_proxy_refused_keys_are_counted_per_client(
    api_key, api_keys_options, settings, proxies, other_client_answer
):
    """DJANGO_NUM_PROXIES=1 behind one proxy: one client's bad keys do not block another.
    Uncounted (0, the default, which check --deploy warns about), everyone shares the proxy's."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": proxies}
    api_keys_options(REFUSAL_RATE="3/min")
    wrong = APIKey.objects.key_generator.generate()[0]
    careless = APIClient(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.1")
    for _ in range(4):
        careless.get(WHOAMI, HTTP_AUTHORIZATION=f"Api-Key {wrong}")
    assert careless.get(WHOAMI, HTTP_AUTHORIZATION=f"Api-Key {wrong}").status_code == 429
    other = APIClient(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.7")
    answer = other.get(WHOAMI, HTTP_AUTHORIZATION=f"Api-Key {api_key[1]}")
    assert answer.status_code == other_client_answer


def test_the_refusal_rate_can_be_lifted(api_client, api_keys_options):
    api_keys_options(REFUSAL_RATE=None)
    api_client.credentials(HTTP_AUTHORIZATION="Api-Key nope")
    assert {api_client.get("/api/v1/whoami/").status_code for _ in range(120)} == {401}
