"""moveapikeymigrations: a project's migrations stop depending on djangorestframework-api-key.

The whole move, from a project built on the package as installed from PyPI, is tested by the
template's tests/test_moving_from_package.py; these tests cover each rule and refusal.
"""

from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

from ..management.commands import moveapikeymigrations

pytestmark = pytest.mark.django_db

DATA_MIGRATION = """from django.db import migrations


def forwards(apps, schema_editor):
    keys = apps.get_model('rest_framework_api_key', 'APIKey')
    same_keys = apps.get_model("rest_framework_api_key.APIKey")
    keys.objects.filter(name="bootstrap").update(revoked=True)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0001_initial"),
        ('rest_framework_api_key', '0005_auto_20220110_1102'),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
"""
FOREIGN_KEY = """from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("rest_framework_api_key", "0005_auto_20220110_1102")]

    operations = [
        migrations.AddField(
            model_name="invoice",
            name="api_key",
            field=models.ForeignKey(
                null=True, on_delete=models.SET_NULL, to="rest_framework_api_key.apikey"
            ),
        ),
    ]
"""


@pytest.fixture
def billing(tmp_path, monkeypatch):
    """An app of the project's own, with migrations written by djangorestframework-api-key's
    users; the command sees it alone."""
    folder = tmp_path / "billing" / "migrations"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "0001_initial.py").write_text("# no reference to the package\n")
    (folder / "0002_revoke_bootstrap_keys.py").write_text(DATA_MIGRATION)
    app = SimpleNamespace(label="billing", path=str(tmp_path / "billing"), get_models=list)
    monkeypatch.setattr(moveapikeymigrations, "project_apps", lambda: [app])
    return folder


def move(*args):
    out = StringIO()
    call_command("moveapikeymigrations", *args, stdout=out)
    return out.getvalue()


def test_dependencies_and_models_of_the_package_become_this_apps(billing):
    output = move()

    text = (billing / "0002_revoke_bootstrap_keys.py").read_text()
    assert "rest_framework_api_key" not in text
    assert '("api_keys", "0007_key_lineage"),' in text
    assert "apps.get_model('api_keys', 'APIKey')" in text
    assert 'apps.get_model("api_keys.APIKey")' in text
    assert '("billing", "0001_initial"),' in text  # the app's own dependency is kept
    assert "0002_revoke_bootstrap_keys.py: depends on api_keys.0007_key_lineage" in output
    assert "Next: python manage.py makemigrations" in output
    # Run again: nothing left to change.
    assert move() == "Nothing to change: no migration refers to the package.\n"


def test_a_dry_run_writes_nothing(billing):
    output = move("--dry-run")

    assert output.startswith("Dry run, nothing written; would change:")
    assert "0002_revoke_bootstrap_keys.py" in output
    assert (billing / "0002_revoke_bootstrap_keys.py").read_text() == DATA_MIGRATION


def test_a_foreign_key_to_the_package_model_is_refused_and_nothing_is_written(billing):
    (billing / "0003_invoice_api_key.py").write_text(FOREIGN_KEY)

    with pytest.raises(CommandError) as refusal:
        move()

    message = str(refusal.value)
    assert "such as a foreign key" in message
    assert "Nothing was written." in message
    assert '0003_invoice_api_key.py, line 12: null=True, on_delete=models.SET_NULL, to="rest_' in (
        message
    )
    assert (billing / "0002_revoke_bootstrap_keys.py").read_text() == DATA_MIGRATION
    assert (billing / "0003_invoice_api_key.py").read_text() == FOREIGN_KEY


def test_applied_migrations_must_not_come_to_depend_on_unapplied_ones(billing):
    recorder = MigrationRecorder(connection)
    recorder.record_applied("billing", "0002_revoke_bootstrap_keys")
    recorder.record_unapplied("api_keys", "0007_key_lineage")

    with pytest.raises(CommandError, match=r"Apply this app's migrations first \(python manage"):
        move()

    assert (billing / "0002_revoke_bootstrap_keys.py").read_text() == DATA_MIGRATION


def test_a_project_without_the_package_has_nothing_to_change(billing):
    (billing / "0002_revoke_bootstrap_keys.py").unlink()

    assert move() == "Nothing to change: no migration refers to the package.\n"


def test_a_key_model_still_built_on_the_package_is_refused_first(billing, monkeypatch):
    package_base = type("AbstractAPIKey", (), {"__module__": "rest_framework_api_key.models"})
    meta = SimpleNamespace(label="billing.InvoiceAPIKey")
    model = type("InvoiceAPIKey", (package_base,), {"__module__": "billing.models", "_meta": meta})
    app = SimpleNamespace(label="billing", path=str(billing.parent), get_models=lambda: [model])
    monkeypatch.setattr(moveapikeymigrations, "project_apps", lambda: [app])

    with pytest.raises(CommandError) as refusal:
        move()

    assert str(refusal.value).startswith(
        "billing.InvoiceAPIKey still subclass djangorestframework-api-key's AbstractAPIKey: "
        "import it from "
    )
    assert (billing / "0002_revoke_bootstrap_keys.py").read_text() == DATA_MIGRATION
