"""A key never shows in an error report: when checking it fails (here, by a bug in the code
that finds a key's row), the report Django mails to ADMINS, or shows under DEBUG, hides the
variables of every frame that held the key, whichever way the key came in. (A database outage
answers 503 and makes no such report: see test_settings.)"""

import pytest
from django.test import RequestFactory
from django.views.debug import ExceptionReporter
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import verification
from ..authentication import APIKeyAuthentication
from ..keys import KeyGenerator
from ..models import APIKey
from ..permissions import HasAPIKey

pytestmark = pytest.mark.django_db


class Bug(Exception):
    pass


@pytest.fixture
def finding_fails(monkeypatch):
    def fail(manager, lookup_id):
        raise Bug("a bug while finding the key")

    # Where the verifier finds the row, whether by the compiled query or the manager's.
    monkeypatch.setattr(verification, "find_usable_key", fail)


def reported_frames(call, request=None, deepest="verify_key"):
    """The frames of the error report for the exception `call()` raises, but this module's
    own (they hold the key as the caller's code would); `deepest` is among them."""
    with pytest.raises(Bug) as raised:
        call()
    reporter = ExceptionReporter(request, raised.type, raised.value, raised.tb)
    frames = reporter.get_traceback_frames()
    ours = [frame for frame in frames if frame["filename"] != __file__]
    assert deepest in [frame["function"] for frame in ours]
    return ours


def assert_hidden(frames, key):
    """No variable of any frame shows the key or its secret; they show as Django hides them."""
    secret = key.rsplit("_", 1)[1]
    shown = repr([frame["vars"] for frame in frames])
    assert key not in shown
    assert secret not in shown
    assert "********************" in shown


class KeyOnly(APIView):
    def get(self, request):
        return Response({})


class PermissionOnly(KeyOnly):
    authentication_classes = []
    permission_classes = [HasAPIKey]


@pytest.mark.parametrize("view", [KeyOnly, PermissionOnly], ids=["authentication", "permission"])
def test_a_request_whose_check_fails(finding_fails, view):
    key = APIKey.objects.create_key(name="billing")[1]
    request = RequestFactory().get("/", HTTP_AUTHORIZATION=f"Api-Key {key}")

    frames = reported_frames(lambda: view.as_view()(request), request)

    assert_hidden(frames, key)


@pytest.mark.parametrize("method", ["is_valid", "get_from_key"])
def test_the_managers_checks(finding_fails, method):
    key = APIKey.objects.create_key(name="billing")[1]

    frames = reported_frames(lambda: getattr(APIKey.objects, method)(key))

    assert_hidden(frames, key)


def test_the_authentication_classes_verify(finding_fails):
    key = APIKey.objects.create_key(name="billing")[1]

    frames = reported_frames(lambda: APIKeyAuthentication().verify(key))

    assert_hidden(frames, key)


def test_a_key_objects_own_check(monkeypatch):
    api_key, key = APIKey.objects.create_key(name="billing")

    def fail(generator, secret, hashed_key, client=""):
        raise Bug("a bug while comparing")

    monkeypatch.setattr(KeyGenerator, "verify_secret", fail)

    frames = reported_frames(lambda: api_key.is_valid(key), deepest="verify")

    assert_hidden(frames, key)
