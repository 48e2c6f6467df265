"""The deployment check on ALLOWED_HOSTS (run by `manage.py check --deploy`)."""

import pytest

from ..checks import check_allowed_hosts


@pytest.mark.parametrize(
    "hosts", [["*"], ["api.example.com", "*"], [".com"]], ids=["any", "any-among-others", "tld"]
)
def test_hosts_anyone_can_name_get_a_warning(settings, hosts):
    settings.ALLOWED_HOSTS = hosts
    [warning] = check_allowed_hosts()
    assert warning.id == "api.W001"
    assert "DJANGO_ALLOWED_HOSTS" in warning.hint


@pytest.mark.parametrize(
    "hosts",
    [["api.example.com"], [".example.com"], ["api.example.com", "10.0.0.5"]],
    ids=["host", "domain-and-subdomains", "host-and-address"],
)
def test_named_hosts_pass(settings, hosts):
    settings.ALLOWED_HOSTS = hosts
    assert check_allowed_hosts() == []
