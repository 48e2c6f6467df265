"""The compiled query of a key check gives what the ORM gives, queries every time, and steps
aside for managers with rules of their own and when API_KEYS["COMPILED_LOOKUP"] is off."""

from datetime import timedelta
from unittest import mock

import pytest
from django.db.models import Model, QuerySet
from django.utils import timezone

from ..fast_lookup import find_usable_key
from ..models import PARENT_FIELDS, APIKey, APIKeyManager

pytestmark = pytest.mark.django_db


def field_values(api_key: Model) -> dict[str, object]:
    return {field.attname: getattr(api_key, field.attname) for field in api_key._meta.fields}


@pytest.fixture
def keys():
    """Keys in the states a check meets: plain, full of values, expired, revoked, rotated, and
    children of a usable, an expired and a revoked parent."""
    plain, _ = APIKey.objects.create_key(name="plain")
    full, _ = APIKey.objects.create_key(
        name="Ledger's café ✓",
        scopes=["orders:read", "orders:write"],
        throttle_rate="50/s",
        expiry_date=timezone.now() + timedelta(days=9),
    )
    APIKey.objects.filter(pk=full.pk).update(last_used_at=timezone.now())
    expired, _ = APIKey.objects.create_key(name="expired", expiry_date=timezone.now())
    revoked, _ = APIKey.objects.create_key(name="revoked")
    revoked.revoke()
    successor, _ = full.rotate(grace=timedelta(hours=1))
    doomed, _ = APIKey.objects.create_key(name="doomed")
    children = [
        APIKey.objects.create_key(name=f"child of {parent.name}", parent=parent, scopes=["a"])[0]
        for parent in (successor, expired, doomed)
    ]
    APIKey.objects.filter(pk=doomed.pk).update(revoked=True)  # the last child's parent
    return [plain, full, expired, revoked, successor, *children]


def test_the_compiled_query_finds_what_the_orm_finds(keys):
    for api_key in keys:
        compiled = find_usable_key(APIKey.objects, api_key.lookup_id)
        by_the_orm = APIKey.objects.find_usable_key(api_key.lookup_id)
        if by_the_orm is None:
            assert compiled is None, api_key.name
            continue
        assert type(compiled) is type(by_the_orm)
        assert field_values(compiled) == field_values(by_the_orm)
        assert compiled.parent_state == by_the_orm.parent_state  # read with it, in its query
        for name in PARENT_FIELDS:
            assert compiled.parent_field(name) == by_the_orm.parent_field(name), name
        assert compiled._state.db == by_the_orm._state.db
        assert not compiled._state.adding
    assert find_usable_key(APIKey.objects, "unknown") is None


def test_it_queries_every_time_and_builds_no_queryset(
    keys, api_keys_options, django_assert_num_queries
):
    api_keys_options(COMPILED_LOOKUP=True)
    plain = keys[0]
    find_usable_key(APIKey.objects, plain.lookup_id)  # compiled on the first call
    filtering = mock.patch.object(QuerySet, "filter", autospec=True, side_effect=QuerySet.filter)
    with filtering as querysets_built, django_assert_num_queries(1):
        assert find_usable_key(APIKey.objects, plain.lookup_id) == plain
    assert querysets_built.call_count == 0
    APIKey.objects.filter(pk=plain.pk).update(revoked=True)  # no signal, no save
    with django_assert_num_queries(1):
        assert find_usable_key(APIKey.objects, plain.lookup_id) is None


def test_switched_off_every_check_goes_through_the_orm(keys, api_keys_options):
    api_keys_options(COMPILED_LOOKUP=False)
    with mock.patch.object(
        APIKeyManager, "find_usable_key", autospec=True, return_value=None
    ) as through_the_orm:
        assert find_usable_key(APIKey.objects, keys[0].lookup_id) is None
    assert through_the_orm.call_count == 1


class OwnRules(APIKeyManager):
    def get_usable_keys(self):
        return super().get_usable_keys().exclude(name="plain")


def test_a_manager_with_rules_of_its_own_goes_through_the_orm(keys):
    manager = OwnRules()
    manager.model = APIKey
    assert APIKey.objects.has_stock_rules
    assert not manager.has_stock_rules
    assert find_usable_key(manager, keys[0].lookup_id) is None  # its rule applies
    assert find_usable_key(manager, keys[1].lookup_id) == keys[1]
