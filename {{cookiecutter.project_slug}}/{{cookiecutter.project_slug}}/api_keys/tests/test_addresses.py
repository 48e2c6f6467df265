"""Keys pinned to networks: `allowed_ips`, checked with no query, validated wherever it is set."""

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from .. import rates
from ..addresses import address_allowed, normalize_networks
from ..models import APIKey

pytestmark = pytest.mark.django_db
WHOAMI = "/api/v1/whoami/"
NETWORKS = ["203.0.113.0/24", "2001:db8::/32"]
NOT_A_NETWORK = "is not a network: write one in CIDR form, e.g. 203.0.113.0/24 or 2001:db8::/32."


def keyed(api_client, **fields):
    _, key = APIKey.objects.create_key(name="partner", **fields)
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return api_client


@pytest.mark.parametrize(
    ("address", "status"),
    [
        ("203.0.113.7", 200),
        ("2001:db8:1::5", 200),
        ("::ffff:203.0.113.9", 200),  # IPv4 as a dual-stack socket reports it
        ("198.51.100.7", 403),
        ("2001:db9::1", 403),
        ("not an address", 403),
    ],
)
def test_a_pinned_key_works_from_its_networks_only(api_client, address, status):
    client = keyed(api_client, allowed_ips=NETWORKS)
    response = client.get(WHOAMI, REMOTE_ADDR=address)
    assert response.status_code == status
    if status == 403:
        assert response.json()["error"] == {
            "code": "ip_not_allowed",
            "message": "This API key may not be used from this address.",
        }


def test_an_unpinned_key_works_from_anywhere(api_client):
    assert keyed(api_client).get(WHOAMI, REMOTE_ADDR="198.51.100.7").status_code == 200


def test_the_address_is_read_as_the_refusal_limit_reads_it(api_client, settings):
    client = keyed(api_client, allowed_ips=["203.0.113.0/24"])
    # X-Forwarded-For is any client's to write: ignored unless proxies are trusted.
    forged = {"REMOTE_ADDR": "198.51.100.7", "HTTP_X_FORWARDED_FOR": "203.0.113.7"}
    assert client.get(WHOAMI, **forged).status_code == 403
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    via_proxy = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "198.51.100.7, 203.0.113.7"}
    assert client.get(WHOAMI, **via_proxy).status_code == 200


def test_checking_the_address_costs_no_query(api_client):
    pinned = keyed(api_client, allowed_ips=NETWORKS)
    pinned.get(WHOAMI, REMOTE_ADDR="203.0.113.7")  # the first use is recorded: a write
    with CaptureQueriesContext(connection) as allowed:
        assert pinned.get(WHOAMI, REMOTE_ADDR="203.0.113.7").status_code == 200
    with CaptureQueriesContext(connection) as refused:
        assert pinned.get(WHOAMI, REMOTE_ADDR="198.51.100.7").status_code == 403
    assert len(allowed) == len(refused) == 1  # the key's own SELECT


def test_networks_are_stored_in_canonical_form_once_each():
    api_key, _ = APIKey.objects.create_key(
        name="partner", allowed_ips=["2001:0DB8::/32", "203.0.113.0/24", "2001:db8::/32"]
    )
    assert api_key.allowed_ips == ["2001:db8::/32", "203.0.113.0/24"]
    assert address_allowed("203.0.113.255", api_key.allowed_ips)


@pytest.mark.parametrize(
    ("networks", "message"),
    [
        (["203.0.113.7/24"], "'203.0.113.7/24' has host bits set: did you mean 203.0.113.0/24?"),
        (["example.com"], f"'example.com' {NOT_A_NETWORK}"),
        (["10.0.0.0/33"], f"'10.0.0.0/33' {NOT_A_NETWORK}"),
        ("203.0.113.0/24", "Allowed IPs are a list of networks, e.g. ['203.0.113.0/24']."),
        ([42], "42 is not a network: write one in CIDR form, e.g. 203.0.113.0/24."),
    ],
)
def test_a_bad_network_is_refused_with_one_sentence(networks, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        normalize_networks(networks)
    with pytest.raises(ValidationError) as on_save:
        APIKey.objects.create_key(name="partner", allowed_ips=networks)
    assert on_save.value.message_dict == {"allowed_ips": [message]}


def test_createapikey_pins_a_key_and_refuses_a_bad_network():
    stderr = StringIO()
    call_command(
        "createapikey", "--name", "partner", "--allowed-ip", "203.0.113.0/24",
        "--allowed-ip", "2001:db8::/32", stdout=StringIO(), stderr=stderr,
    )  # fmt: skip
    assert APIKey.objects.get().allowed_ips == NETWORKS
    assert "from 203.0.113.0/24 2001:db8::/32 only" in stderr.getvalue()
    with pytest.raises(CommandError, match=r"has host bits set: did you mean 10\.0\.0\.0/8\?"):
        call_command("createapikey", "--name", "partner", "--allowed-ip", "10.1.2.3/8")


def test_a_rotated_key_keeps_its_networks_and_quota():
    api_key, _ = APIKey.objects.create_key(name="partner", allowed_ips=NETWORKS, quota="9/day")
    new, _ = api_key.rotate(grace=timedelta(hours=1))
    assert (new.allowed_ips, new.quota) == (NETWORKS, "9/day")


def test_networks_saved_past_validation_refuse_rather_than_fail(api_client):
    api_key, key = APIKey.objects.create_key(name="partner", allowed_ips=["203.0.113.0/24"])
    client = keyed(api_client)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    for stored in (["203.0.113.7/24"], "203.0.113.0/24", [None, "example.com"]):
        APIKey.objects.filter(pk=api_key.pk).update(allowed_ips=stored)
        status = client.get(WHOAMI, REMOTE_ADDR="203.0.113.7").status_code
        assert status == (200 if stored == ["203.0.113.7/24"] else 403), stored


def test_a_pinned_key_from_elsewhere_counts_toward_the_refusal_limit(
    api_client, api_keys_options, monkeypatch
):
    monkeypatch.setattr(rates, "clock", lambda: 1_800_000_030.0)  # one window for all three
    api_keys_options(REFUSAL_RATE="2/min")
    client = keyed(api_client, allowed_ips=["203.0.113.0/24"])
    statuses = [client.get(WHOAMI, REMOTE_ADDR="198.51.100.7").status_code for _ in range(3)]
    assert statuses == [403, 403, 429]
