"""The deployment checks of the api app (run by `manage.py check --deploy`)."""

import pytest
from django.core.checks import Tags, run_checks

from ..checks import check_allowed_hosts, check_proxy_count


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


PROXY_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


def rest_framework_with(settings, **options):
    """REST_FRAMEWORK as the project sets it, with `options` instead of its NUM_PROXIES."""
    current = dict(settings.REST_FRAMEWORK)
    current.pop("NUM_PROXIES", None)
    return {**current, **options}


@pytest.mark.parametrize("options", [{"NUM_PROXIES": 0}, {}], ids=["zero", "unset"])
def test_proxy_without_a_proxy_count_gets_a_warning(settings, options):
    """Behind the TLS proxy, every request comes from the proxy's address: refused keys from one
    client would get every client 429 (with 0), or a client would pick its own address (unset)."""
    settings.SECURE_PROXY_SSL_HEADER = PROXY_HEADER
    settings.REST_FRAMEWORK = rest_framework_with(settings, **options)
    [warning] = check_proxy_count()
    assert warning.id == "api.W002"
    assert "DJANGO_NUM_PROXIES" in warning.hint


def test_proxy_with_a_proxy_count_passes(settings):
    settings.SECURE_PROXY_SSL_HEADER = PROXY_HEADER
    settings.REST_FRAMEWORK = rest_framework_with(settings, NUM_PROXIES=1)
    assert check_proxy_count() == []


def test_no_proxy_needs_no_proxy_count(settings):
    settings.SECURE_PROXY_SSL_HEADER = None
    settings.REST_FRAMEWORK = rest_framework_with(settings, NUM_PROXIES=0)
    assert check_proxy_count() == []


def test_check_deploy_runs_the_proxy_check(settings):
    settings.SECURE_PROXY_SSL_HEADER = PROXY_HEADER
    settings.REST_FRAMEWORK = rest_framework_with(settings, NUM_PROXIES=0)
    found = run_checks(tags=[Tags.security], include_deployment_checks=True)
    assert "api.W002" in {message.id for message in found}
    assert "api.W002" not in {message.id for message in run_checks(tags=[Tags.security])}
