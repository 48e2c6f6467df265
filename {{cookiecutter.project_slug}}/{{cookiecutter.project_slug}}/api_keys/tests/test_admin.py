"""The admin flow: create a key and see it once, view keys, revoke for good."""

import json
import re
from datetime import UTC, timedelta
from io import StringIO

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from ..admin import APIKeyModelAdmin
from ..models import APIKey, KeyUsage

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


@pytest.mark.parametrize(
    ("header", "shown"),
    [(None, "Authorization: Api-Key &lt;key&gt;"), ("HTTP_X_API_KEY", "X-Api-Key: &lt;key&gt;")],
)
def test_the_key_page_names_the_header_clients_send_it_in(
    admin_client, api_keys_options, header, shown
):
    api_keys_options(HEADER=header)
    response, _, _ = create_in_admin(admin_client)
    assert f"<code>{shown}</code>" in response.content.decode()


def test_created_key_goes_into_no_cookie_and_no_message(admin_client):
    response, _, key = create_in_admin(admin_client)
    for cookie in response.cookies.values():
        assert key not in cookie.value
    assert list(response.context["messages"]) == []


def test_the_key_page_has_a_copy_button_scripted_by_a_file_of_the_site(admin_client):
    """Production's Content-Security-Policy allows scripts from the site's own files only
    (tests/test_admin_browser.py clicks the button in a browser, under that policy)."""
    response, _, key = create_in_admin(admin_client)
    page = response.content.decode()
    assert '<button type="button" id="copy-api-key" class="button" hidden>Copy</button>' in page
    assert re.search(r'<script src="[^"]*api_keys/copy-key(\.[0-9a-f]+)?\.js" defer>', page)
    assert re.findall(r"<script(?![^>]* src=)[^>]*>", page) == []  # no inline script
    assert not re.search(r"\son[a-z]+=", page)  # no inline event handler
    assert key not in re.sub(r'<code id="api-key">[^<]*</code>', "", page)  # shown once


def test_the_key_page_answers_the_post_and_forgets_it_on_reload(admin_client):
    response, api_key, _ = create_in_admin(admin_client)
    page = response.content.decode()
    change_url = reverse("admin:api_keys_apikey_change", args=[api_key.pk])
    assert "forget-form-post.js" in page
    assert f'data-location="{change_url}"' in page


@pytest.mark.parametrize("name", ["", "   "])
def test_a_key_without_a_name_is_refused_with_a_message(admin_client, name):
    response = admin_client.post(ADD_URL, {"name": name, "expiry_date_0": "", "expiry_date_1": ""})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"name": ["This field is required."]}
    assert "key" not in response.context
    assert not APIKey.objects.exists()


def test_a_name_with_control_characters_is_refused_with_a_message(admin_client):
    name = "partner\x1b[2J\rRevoked."
    response = admin_client.post(ADD_URL, {"name": name, "expiry_date_0": "", "expiry_date_1": ""})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "name": ["Use printable text only: '\\x1b' is not a printable character."]
    }
    assert "key" not in response.context
    assert not APIKey.objects.exists()


def test_save_model_called_as_djangorestframework_api_key_allows_creates_a_key(rf):
    request = rf.post(ADD_URL)
    api_key = APIKey(name="from code")
    APIKeyModelAdmin(APIKey, admin.site).save_model(request, api_key)  # no form, no change
    key = request._new_api_key
    assert APIKey.objects.get_from_key(key) == api_key


def test_save_model_never_replaces_the_key_of_a_saved_key(rf):
    api_key, key = APIKey.objects.create_key(name="partner")
    stored = (api_key.lookup_id, api_key.hashed_key)
    api_key.name = "renamed"
    request = rf.post(ADD_URL)
    APIKeyModelAdmin(APIKey, admin.site).save_model(request, api_key)  # change=False
    api_key.refresh_from_db()
    assert (api_key.lookup_id, api_key.hashed_key) == stored
    assert api_key.name == "renamed"
    assert APIKey.objects.is_valid(key)
    assert not hasattr(request, "_new_api_key")


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


def change_url(api_key):
    return reverse("admin:api_keys_apikey_change", args=[api_key.pk])


def rotate_url(api_key):
    return reverse("admin:api_keys_apikey_rotate", args=[api_key.pk])


def listed(admin_client, **params):
    """The keys the change list shows for these query parameters."""
    return set(admin_client.get(LIST_URL, params).context["cl"].result_list)


@pytest.fixture
def viewer_client(client):
    """A staff member who may only view keys."""
    user = get_user_model().objects.create_user("viewer", password="pw-for-tests", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_apikey"))
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "lookup",
    [
        "hashed_key__startswith",
        "hashed_key__regex",
        "hashed_key__gt",
        "hashed_key",
        "rotated_from__hashed_key__startswith",
        "rotated_to__hashed_key__startswith",
        "parent__hashed_key__startswith",
        "children__hashed_key__startswith",
    ],
)
def test_the_list_refuses_to_filter_on_a_stored_hash(viewer_client, caplog, lookup):
    """?hashed_key__startswith= would read a hash back, a character at a time, in about 1,000
    requests by anyone who may view the list."""
    old, _ = APIKey.objects.create_key(name="partner")
    new, _ = old.rotate(grace=timedelta(hours=1))
    prefix = old.hashed_key[:12] if lookup.startswith("rotated_from") else new.hashed_key[:12]
    response = viewer_client.get(LIST_URL, {lookup: prefix})
    assert response.status_code == 400  # Django's answer to a disallowed admin lookup
    assert [record.name for record in caplog.records] == [
        "django.security.DisallowedModelAdminLookup"
    ]
    assert viewer_client.get(LIST_URL, {"lookup_id": new.lookup_id}).status_code == 200


def test_the_list_s_search_and_ordering_do_not_reach_the_hash(viewer_client):
    api_key, _ = APIKey.objects.create_key(name="partner")
    assert listed(viewer_client, q=api_key.hashed_key[:12]) == set()
    for column in range(len(APIKeyModelAdmin.list_display) + 2):
        page = viewer_client.get(LIST_URL, {"o": str(column)}).content.decode()
        assert api_key.hashed_key not in page
        assert "hashed_key" not in page


@pytest.fixture
def staff_client(client):
    """A staff member who may view and change keys, but not add them."""
    user = get_user_model().objects.create_user("staff", password="pw-for-tests", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_apikey", "change_apikey"])
    )
    client.force_login(user)
    return client


def test_list_shows_scopes_last_use_and_state(admin_client):
    used, _ = APIKey.objects.create_key(name="used", scopes=["orders:read", "orders:write"])
    APIKey.objects.filter(pk=used.pk).update(last_used_at=timezone.now())
    response = admin_client.get(LIST_URL)
    page = response.content.decode()
    for column in ("name", "lookup_id", "_scopes", "created", "expiry_date", "last_used_at"):
        assert f"column-{column}" in page
    assert "column-_status" in page
    assert "orders:read orders:write" in page


def status_cells(page: str) -> dict[str, str]:
    """The status column of a change list page, by the key's lookup id."""
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.DOTALL)
    cells = {}
    for row in rows:
        lookup_id = re.search(r'<td class="field-lookup_id">([^<]*)</td>', row)
        status = re.search(r'<td class="field-_status">(.*?)</td>', row, re.DOTALL)
        if lookup_id and status:
            cells[lookup_id[1]] = status[1]
    return cells


def test_the_list_shows_one_status_in_words_the_same_as_listapikeys(admin_client):
    now = timezone.now()
    APIKey.objects.create_key(name="active")
    APIKey.objects.create_key(name="soon", expiry_date=now + timedelta(days=3))
    APIKey.objects.create_key(name="expired", expiry_date=now - timedelta(hours=1))
    revoked, _ = APIKey.objects.create_key(name="revoked")
    revoked.revoke()
    rotated, _ = APIKey.objects.create_key(name="rotated")
    rotated.rotate(grace=timedelta(days=1))
    page = admin_client.get(LIST_URL).content.decode()
    out = StringIO()
    call_command("listapikeys", "--json", stdout=out)
    listed = {row["lookup_id"]: row["status"] for row in json.loads(out.getvalue())}
    assert status_cells(page) == listed
    assert sorted(listed.values()) == [
        "active", "active", "expired", "expiring soon", "in grace", "revoked"
    ]  # fmt: skip
    assert "icon-yes" not in page  # no tick, which would read as "good" for a revoked key
    assert "icon-no" not in page


def test_the_list_reads_each_key_s_successors_in_one_query(
    admin_client, django_assert_max_num_queries
):
    for number in range(5):
        api_key, _ = APIKey.objects.create_key(name=f"key {number}")
        api_key.rotate(grace=timedelta(days=1))
    admin_client.get(LIST_URL)  # the session and the user, once
    with django_assert_max_num_queries(8):
        page = admin_client.get(LIST_URL).content.decode()
    assert list(status_cells(page).values()).count("in grace") == 5


def test_list_searches_names_and_lookup_ids(admin_client):
    billing, _ = APIKey.objects.create_key(name="billing")
    reports, _ = APIKey.objects.create_key(name="reports")
    assert listed(admin_client, q="bill") == {billing}
    assert listed(admin_client, q=reports.lookup_id) == {reports}


def test_list_filters_by_revoked_and_by_expiry(admin_client):
    now = timezone.now()
    never, _ = APIKey.objects.create_key(name="never")
    expired, _ = APIKey.objects.create_key(name="expired", expiry_date=now - timedelta(hours=1))
    soon, _ = APIKey.objects.create_key(name="soon", expiry_date=now + timedelta(days=2))
    later, _ = APIKey.objects.create_key(name="later", expiry_date=now + timedelta(days=60))
    revoked, _ = APIKey.objects.create_key(name="revoked")
    revoked.revoke()
    assert listed(admin_client, revoked__exact="1") == {revoked}
    assert listed(admin_client, revoked__exact="0") == {never, expired, soon, later}
    assert listed(admin_client, expiry="expired") == {expired}
    assert listed(admin_client, expiry="soon") == {soon}
    assert listed(admin_client, expiry="later") == {later}
    assert listed(admin_client, expiry="never") == {never, revoked}
    APIKey.objects.filter(pk=later.pk).update(created=now - timedelta(days=30))
    changelist = admin_client.get(LIST_URL).context["cl"]
    created_filter = next(spec for spec in changelist.filter_specs if spec.title == "created")
    today = next(c for c in created_filter.choices(changelist) if c["display"] == "Today")
    today_page = admin_client.get(LIST_URL + today["query_string"])
    assert set(today_page.context["cl"].result_list) == {never, expired, soon, revoked}


def test_scopes_are_typed_as_text_and_stored_sorted_once_each(admin_client):
    admin_client.post(
        ADD_URL,
        {
            "name": "orders",
            "scopes": "orders:write, orders:read  orders:write",
            "expiry_date_0": "",
            "expiry_date_1": "",
        },
    )
    api_key = APIKey.objects.get(name="orders")
    assert api_key.scopes == ["orders:read", "orders:write"]
    page = admin_client.get(change_url(api_key)).content.decode()
    assert 'value="orders:read orders:write"' in page


def test_scopes_are_edited_on_the_change_form(admin_client):
    api_key, key = APIKey.objects.create_key(name="orders", scopes=["orders:read"])
    response = admin_client.post(
        change_url(api_key),
        {"name": "orders", "scopes": "b,a", "expiry_date_0": "", "expiry_date_1": ""},
    )
    assert response.status_code == 302
    api_key.refresh_from_db()
    assert api_key.scopes == ["a", "b"]
    assert APIKey.objects.is_valid(key)


def test_malformed_scopes_are_refused_with_a_message(admin_client):
    response = admin_client.post(
        ADD_URL,
        {"name": "orders", "scopes": "orders:read Orders/Write", "expiry_date_0": ""},
    )
    assert response.status_code == 200
    assert "Not a valid scope: &#x27;Orders/Write&#x27;" in response.content.decode()
    assert not APIKey.objects.exists()


def revoke_selected(admin_client, api_keys, confirmed):
    data = {"action": "revoke_selected", ACTION_CHECKBOX_NAME: [key.pk for key in api_keys]}
    if confirmed:
        data["post"] = "yes"
    return admin_client.post(LIST_URL, data)


def test_revoke_action_asks_first_and_revokes_nothing_yet(admin_client):
    first, _ = APIKey.objects.create_key(name="first")
    gone, _ = APIKey.objects.create_key(name="gone")
    gone.revoke()
    response = revoke_selected(admin_client, [first, gone], confirmed=False)
    assert response.status_code == 200
    assert response.context["to_revoke"] == [first]
    assert response.context["already_revoked"] == [gone]
    page = response.content.decode()
    assert first.lookup_id in page
    assert 'name="post" value="yes"' in page
    assert not APIKey.objects.get(pk=first.pk).revoked


def test_revoke_action_revokes_the_selected_keys_once_confirmed(admin_client, api_client):
    first, first_key = APIKey.objects.create_key(name="first")
    second, second_key = APIKey.objects.create_key(name="second")
    _, kept_key = APIKey.objects.create_key(name="kept")
    response = revoke_selected(admin_client, [first, second], confirmed=True)
    assert response.status_code == 302
    assert set(APIKey.objects.filter(revoked=True)) == {first, second}
    for key, status in ((first_key, 401), (second_key, 401), (kept_key, 200)):
        response = api_client.get("/api/v1/whoami/", HTTP_AUTHORIZATION=f"Api-Key {key}")
        assert response.status_code == status
    messages = [str(message) for message in admin_client.get(LIST_URL).context["messages"]]
    assert messages == ["Revoked 2 API key(s)."]


def test_revoke_action_needs_the_change_permission(client):
    viewer = get_user_model().objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_apikey"))
    client.force_login(viewer)
    api_key, _ = APIKey.objects.create_key(name="first")
    revoke_selected(client, [api_key], confirmed=True)
    assert not APIKey.objects.get(pk=api_key.pk).revoked


def rotate_in_admin(admin_client, api_key, grace="1h"):
    response = admin_client.post(rotate_url(api_key), {"grace": grace})
    assert response.status_code == 200, response.content
    key = response.context["key"]
    return response, APIKey.objects.get_from_key(key), key


def test_rotation_shows_the_new_key_once_on_the_key_created_page(admin_client, api_client):
    old, old_key = APIKey.objects.create_key(name="partner", scopes=["orders:read"])
    response, new, key = rotate_in_admin(admin_client, old, grace="1h")
    assert "api_keys/admin/key_created.html" in [template.name for template in response.templates]
    page = response.content.decode()
    assert key in page
    assert old.lookup_id in page
    assert f'data-location="{change_url(new)}"' in page
    assert "no-store" in response["Cache-Control"]
    assert (new.name, new.scopes, new.rotated_from) == ("partner", ["orders:read"], old)
    old.refresh_from_db()
    assert abs(old.expiry_date - (timezone.now() + timedelta(hours=1))) < timedelta(minutes=1)
    for presented in (old_key, key):
        answer = api_client.get("/api/v1/whoami/", HTTP_AUTHORIZATION=f"Api-Key {presented}")
        assert answer.status_code == 200

    for url in (change_url(new), change_url(old), LIST_URL, rotate_url(new)):
        assert key not in admin_client.get(url).content.decode()


def test_the_key_page_says_when_the_new_key_expires(admin_client):
    old, _ = APIKey.objects.create_key(
        name="quarterly", expiry_date=timezone.now() + timedelta(days=90)
    )
    response, new, _ = rotate_in_admin(admin_client, old, grace="1h")
    page = response.content.decode()
    expires = new.expiry_date.astimezone(timezone.get_current_timezone())
    assert f'It expires at <span id="api-key-expires">{expires:%Y-%m-%d %H:%M}' in page
    assert abs(new.expiry_date - (timezone.now() + timedelta(days=90))) < timedelta(minutes=1)
    forever, _ = APIKey.objects.create_key(name="forever")
    assert "It does not expire." in rotate_in_admin(admin_client, forever)[0].content.decode()


def test_rotated_key_goes_into_no_cookie_and_no_message(admin_client):
    old, _ = APIKey.objects.create_key(name="partner")
    response, _, key = rotate_in_admin(admin_client, old)
    for cookie in response.cookies.values():
        assert key not in cookie.value
    for cookie in admin_client.cookies.values():
        assert key not in cookie.value
    assert list(response.context["messages"]) == []


def test_rotate_page_asks_for_the_grace_period_and_changes_nothing(admin_client):
    old, _ = APIKey.objects.create_key(name="partner")
    page = admin_client.get(rotate_url(old)).content.decode()
    assert 'name="grace"' in page
    assert 'value="24h" selected' in page
    assert list(APIKey.objects.all()) == [old]
    assert APIKey.objects.get().expiry_date is None


def test_rotate_page_refuses_a_grace_period_it_does_not_offer(admin_client):
    old, _ = APIKey.objects.create_key(name="partner")
    response = admin_client.post(rotate_url(old), {"grace": "-1h"})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert list(APIKey.objects.all()) == [old]


def test_change_page_offers_rotation_except_for_a_revoked_key(admin_client):
    api_key, _ = APIKey.objects.create_key(name="partner")
    assert rotate_url(api_key) in admin_client.get(change_url(api_key)).content.decode()
    api_key.revoke()
    assert rotate_url(api_key) not in admin_client.get(change_url(api_key)).content.decode()


def test_a_revoked_key_is_not_rotated_in_the_admin(admin_client):
    api_key, _ = APIKey.objects.create_key(name="partner")
    api_key.revoke()
    response = admin_client.post(rotate_url(api_key), {"grace": "1h"}, follow=True)
    assert response.redirect_chain == [(change_url(api_key), 302)]
    messages = [str(message) for message in response.context["messages"]]
    assert messages == ["A revoked API key cannot be rotated; create a new key instead."]
    assert APIKey.objects.count() == 1


def test_change_pages_link_a_key_and_the_key_it_replaced(admin_client):
    old, _ = APIKey.objects.create_key(name="partner")
    _, new, _ = rotate_in_admin(admin_client, old)
    old_page = admin_client.get(change_url(old)).content.decode()
    new_page = admin_client.get(change_url(new)).content.decode()
    assert f'<a href="{change_url(new)}">partner ({new.lookup_id})</a>' in old_page
    assert f'<a href="{change_url(old)}">partner ({old.lookup_id})</a>' in new_page
    assert "Replaced by" in old_page
    assert "Replaces" in new_page


def test_rotating_needs_the_add_permission_too(staff_client):
    api_key, _ = APIKey.objects.create_key(name="partner")
    assert rotate_url(api_key) not in staff_client.get(change_url(api_key)).content.decode()
    assert staff_client.get(rotate_url(api_key)).status_code == 403
    assert staff_client.post(rotate_url(api_key), {"grace": "1h"}).status_code == 403
    assert APIKey.objects.count() == 1


def breadcrumbs(page: bytes) -> tuple[str, list[str]]:
    """The tag of a page's breadcrumbs and the texts of their links."""
    found = re.search(rb'<(ol|div) class="breadcrumbs">(.*?)</\1>', page, re.DOTALL)
    assert found, page
    return found[1].decode(), re.findall(r"<a [^>]*>([^<]*)</a>", found[2].decode())


def test_the_key_app_s_own_pages_have_breadcrumbs_like_the_admin_s(admin_client):
    api_key, _ = APIKey.objects.create_key(name="crumbs")
    tag, links = breadcrumbs(admin_client.get(LIST_URL).content)
    pages = {
        "created": create_in_admin(admin_client)[0],
        "rotate": admin_client.get(rotate_url(api_key)),
        "revoke": revoke_selected(admin_client, [api_key], confirmed=False),
    }
    for name, response in pages.items():
        own_tag, own_links = breadcrumbs(response.content)
        assert own_tag == tag, name
        assert own_links[:2] == links[:2], name
        assert own_links[2] == "API keys", name
    assert breadcrumbs(pages["rotate"].content)[1][-1] == "crumbs"


def test_keys_whose_stored_scopes_break_today_s_rules_are_still_revoked(admin_client):
    first, _ = APIKey.objects.create_key(name="old rules")
    second, _ = APIKey.objects.create_key(name="older rules")
    # Rows written by update(), loaddata or an earlier version, before the rules tightened.
    APIKey.objects.filter(pk=first.pk).update(scopes=["Not A Scope"], throttle_rate="lots")
    APIKey.objects.filter(pk=second.pk).update(scopes="orders:read")
    response = revoke_selected(admin_client, [first, second], confirmed=True)
    assert response.status_code == 302
    assert set(APIKey.objects.values_list("revoked", flat=True)) == {True}
    third, _ = APIKey.objects.create_key(name="in code")
    APIKey.objects.filter(pk=third.pk).update(scopes=[1, 2])
    third.refresh_from_db()
    third.revoke()
    assert APIKey.objects.get(pk=third.pk).revoked


def test_a_key_s_page_draws_its_last_30_days_of_use(admin_client):
    api_key, _ = APIKey.objects.create_key(name="partner")
    today = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for days_ago, accepted, refused in ((0, 40, 2), (3, 10, 0), (45, 999, 0)):
        KeyUsage.objects.create(
            key_model="api_keys.apikey",
            lookup_id=api_key.lookup_id,
            hour=today - timedelta(days=days_ago) + timedelta(hours=5),
            accepted=accepted,
            refused=refused,
        )
    page = admin_client.get(reverse("admin:api_keys_apikey_change", args=[api_key.pk]))
    html = page.content.decode()
    assert "<svg" in html
    assert "<script" not in html.split('class="api-key-usage"')[1].split("</figure>")[0]
    assert "Requests per day, last 30 days" in html
    assert "50 requests accepted and 2 refused in 30 days; the busiest day had 42." in html
    assert f"{today:%Y-%m-%d}: 40 accepted, 2 refused" in html  # each bar's own title
    assert f"<td>{(today - timedelta(days=3)):%Y-%m-%d}</td><td>10</td><td>0</td>" in html
    assert "refused (hatched): 2" in html  # told apart by a pattern, not a colour alone


def test_the_list_shows_and_sorts_by_each_key_s_last_7_days(admin_client):
    busy, _ = APIKey.objects.create_key(name="busy")
    quiet, _ = APIKey.objects.create_key(name="quiet")
    now = timezone.now().astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    for api_key, hours_ago, accepted in (
        (busy, 1, 30),
        (busy, 24, 5),
        (quiet, 2, 3),
        (quiet, 200, 50),
    ):
        KeyUsage.objects.create(
            key_model="api_keys.apikey",
            lookup_id=api_key.lookup_id,
            hour=now - timedelta(hours=hours_ago),
            accepted=accepted,
        )
    page = admin_client.get(LIST_URL)
    html = page.content.decode()
    assert "Requests, 7 days" in html
    rows = {row.name: row.requests_7d for row in page.context["cl"].result_list}
    assert rows == {"busy": 35, "quiet": 3}
    index = list(APIKeyModelAdmin.list_display).index("_requests_7d") + 1
    ascending = admin_client.get(LIST_URL, {"o": str(index)})
    assert [row.name for row in ascending.context["cl"].result_list] == ["quiet", "busy"]


def test_the_admin_sets_a_quota_and_networks_one_per_line(admin_client, api_client):
    response = admin_client.post(
        ADD_URL,
        {
            "name": "pinned",
            "quota": "500/day",
            "allowed_ips": "203.0.113.0/24\n2001:DB8::/32\n",
            "expiry_date_0": "",
            "expiry_date_1": "",
        },
    )
    assert response.status_code == 200, response.content
    api_key = APIKey.objects.get(name="pinned")
    assert (api_key.quota, api_key.allowed_ips) == ("500/day", ["203.0.113.0/24", "2001:db8::/32"])
    page = admin_client.get(reverse("admin:api_keys_apikey_change", args=[api_key.pk]))
    assert "203.0.113.0/24\n2001:db8::/32</textarea>" in page.content.decode()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "allowed_ips",
            "10.1.2.3/8",
            "&#x27;10.1.2.3/8&#x27; has host bits set: did you mean 10.0.0.0/8?",
        ),
        ("allowed_ips", "office", "&#x27;office&#x27; is not a network"),
        ("quota", "500/fortnight", "&#x27;500/fortnight&#x27; is not a quota."),
    ],
)
def test_the_admin_refuses_a_bad_quota_or_network_with_one_sentence(
    admin_client, field, value, message
):
    form = {"name": "pinned", "expiry_date_0": "", "expiry_date_1": "", field: value}
    response = admin_client.post(ADD_URL, form)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not APIKey.objects.exists()


def test_a_child_s_page_links_its_parent_and_the_parent_s_lists_its_children(admin_client):
    parent, _ = APIKey.objects.create_key(name="partner")
    child, _ = APIKey.objects.create_key(name="nightly export", parent=parent)
    revoked, _ = APIKey.objects.create_key(name="old export", parent=parent)
    revoked.revoke()
    child_page = admin_client.get(change_url(child)).content.decode()
    assert f'<a href="{change_url(parent)}">partner ({parent.lookup_id})</a>' in child_page
    parent_page = admin_client.get(change_url(parent)).content.decode()
    assert f'<a href="{change_url(child)}">nightly export ({child.lookup_id})</a>' in parent_page
    assert revoked.lookup_id not in parent_page
