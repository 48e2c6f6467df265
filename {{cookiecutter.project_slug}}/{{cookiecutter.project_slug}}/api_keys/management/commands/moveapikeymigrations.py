import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings
from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, migrations, models
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.exceptions import NodeNotFoundError
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import ProjectState
from django.db.migrations.writer import MigrationWriter

from ...models import AbstractAPIKey
from ..base import DatabaseCommand, first_line

OLD_LABEL = "rest_framework_api_key"
# ("rest_framework_api_key", "0005_auto_20220110_1102") in a migration's dependencies.
DEPENDENCY = re.compile(
    rf"""\(\s*(["']){OLD_LABEL}\1\s*,\s*(["'])(?:\d\d\d\d\w*|__first__|__latest__)\2\s*,?\s*\)"""
)
# apps.get_model("rest_framework_api_key", "APIKey") or ("rest_framework_api_key.APIKey").
GET_MODEL = re.compile(rf"""(get_model\(\s*)(["']){OLD_LABEL}(?=\2|\.)""")
ADOPT_NAME = "adopt_api_keys"
GUIDE = "docs/moving-from-djangorestframework-api-key.md"


@dataclass
class Rewrite:
    """One migration file, and its text with the package's app label replaced."""

    app_label: str
    name: str
    path: Path
    text: str


def project_apps() -> list[AppConfig]:
    """The installed apps whose code is this project's own (not a package in a virtualenv)."""
    base_dir = Path(settings.BASE_DIR).resolve()
    environment = Path(sys.prefix).resolve()
    own = []
    for app in apps.get_app_configs():
        path = Path(app.path).resolve()
        if path.is_relative_to(base_dir) and not path.is_relative_to(environment):
            own.append(app)
    return own


class Command(DatabaseCommand):
    help = (
        "Make this project's migrations follow the move from djangorestframework-api-key: "
        "dependencies on its migrations become dependencies on this app's, and each custom key "
        "table built on its AbstractAPIKey gets a migration that renames `prefix` to "
        "`lookup_id`, keeping the table and its keys. Then run makemigrations and migrate."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="say what would change; write nothing"
        )

    def handle(self, *args: Any, dry_run: bool, **options: Any) -> None:
        own_label = AbstractAPIKey._meta.app_label
        own_apps = [app for app in project_apps() if app.label != own_label]
        self.check_models(own_apps)
        target = self.own_leaf(own_label)
        rewrites = self.find_rewrites(own_apps, target)
        self.check_history(rewrites, target)
        changes = [f"{rewrite.path}: depends on {target[0]}.{target[1]}" for rewrite in rewrites]
        if not dry_run:
            for rewrite in rewrites:
                rewrite.path.write_text(rewrite.text, encoding="utf-8")
        try:
            # Read after the rewrite, so that the migrations load without the package.
            adoptions = self.write_adoptions(own_apps, dry_run)
        except CommandError as error:
            if rewrites and not dry_run:
                error.args = (f"{error} ({len(rewrites)} migration(s) were rewritten already.)",)
            raise
        changes += [f"{path}: renames prefix to lookup_id" for path in adoptions]
        if not changes:
            self.stdout.write("Nothing to change: no migration refers to the package.")
            return
        lead = "Dry run, nothing written; would change:" if dry_run else "Changed:"
        self.stdout.write("\n".join([lead, *(f"  {change}" for change in changes)]))
        if not dry_run:
            self.stdout.write(
                "Next: python manage.py makemigrations, then python manage.py migrate."
            )

    def check_models(self, own_apps: list[AppConfig]) -> None:
        """Refuse while a key model is still built on the package's AbstractAPIKey: its table's
        migration would be missed, and makemigrations would then ask for a lookup_id."""
        still_on_the_package = [
            model._meta.label
            for app in own_apps
            for model in app.get_models()
            if any(base.__module__.startswith(f"{OLD_LABEL}.") for base in model.__mro__)
        ]
        if still_on_the_package:
            raise CommandError(
                f"{', '.join(still_on_the_package)} still subclass djangorestframework-api-key's "
                f"AbstractAPIKey: import it from {AbstractAPIKey.__module__} instead (step 2 of "
                f"{GUIDE}), then run this command again. Nothing was written."
            )

    def own_leaf(self, label: str) -> tuple[str, str]:
        """This app's newest migration, which the rewritten dependencies point at."""
        leaves = MigrationLoader(None, ignore_no_migrations=True).graph.leaf_nodes(label)
        leaf: tuple[str, str] = leaves[0]
        return leaf

    def find_rewrites(self, own_apps: list[AppConfig], target: tuple[str, str]) -> list[Rewrite]:
        """The migration files that name the package, rewritten; refuse, writing nothing, if
        one refers to it in a way that cannot be rewritten (a foreign key to its APIKey)."""
        rewrites, problems = [], []
        for app in own_apps:
            folder = Path(app.path) / "migrations"
            for path in sorted(folder.glob("[0-9]*.py")):
                text = path.read_text(encoding="utf-8")
                if OLD_LABEL not in text:
                    continue
                new_text = GET_MODEL.sub(rf"\1\2{target[0]}", text)
                new_text = DEPENDENCY.sub(f'("{target[0]}", "{target[1]}")', new_text)
                for number, line in enumerate(new_text.splitlines(), start=1):
                    if OLD_LABEL in line:
                        problems.append(f"  {path}, line {number}: {line.strip()}")
                rewrites.append(Rewrite(app.label, path.stem, path, new_text))
        if problems:
            raise CommandError(
                "These lines refer to djangorestframework-api-key's APIKey in a way that "
                "cannot be rewritten, such as a foreign key, whose column holds that table's "
                f"string ids; change them by hand ({GUIDE} says how), then run this command "
                "again. Nothing was written.\n" + "\n".join(problems)
            )
        return rewrites

    def check_history(self, rewrites: list[Rewrite], target: tuple[str, str]) -> None:
        """Refuse if an applied migration would come to depend on an unapplied one, which would
        stop `migrate` (InconsistentMigrationHistory)."""
        if not rewrites:
            return
        try:
            applied = MigrationRecorder(connections[DEFAULT_DB_ALIAS]).applied_migrations()
        except DatabaseError as error:
            raise CommandError(
                f"The database cannot be read ({first_line(error)}); nothing was written."
            ) from None
        if target not in applied and any((r.app_label, r.name) in applied for r in rewrites):
            raise CommandError(
                f"Apply this app's migrations first (python manage.py migrate {target[0]}): "
                "migrations already applied to the database would depend on them. Nothing "
                "was written."
            )

    def write_adoptions(self, own_apps: list[AppConfig], dry_run: bool) -> list[str]:
        """For each custom key table still shaped by the package, a migration that renames its
        `prefix` to `lookup_id`; the paths written (or that would be)."""
        try:
            loader = MigrationLoader(None, ignore_no_migrations=True)
            state = loader.project_state()
        except (NodeNotFoundError, LookupError, ValueError) as error:
            raise CommandError(f"The migrations cannot be loaded: {first_line(error)}.") from None
        written = []
        for app in own_apps:
            renames = [
                str(model._meta.model_name)
                for model in app.get_models()
                if issubclass(model, AbstractAPIKey) and self.needs_adoption(model, state)
            ]
            if not renames:
                continue
            leaves = loader.graph.leaf_nodes(app.label)
            number = (MigrationAutodetector.parse_number(leaves[0][1]) or 0) + 1 if leaves else 1
            operations = [migrations.RenameField(name, "prefix", "lookup_id") for name in renames]
            body = {"dependencies": leaves, "operations": operations}
            migration_class = type("Migration", (migrations.Migration,), body)
            migration = migration_class(f"{number:04d}_{ADOPT_NAME}", app.label)
            writer = MigrationWriter(migration)
            if not dry_run:
                Path(writer.path).write_text(writer.as_string(), encoding="utf-8")
            written.append(writer.path)
        return written

    def needs_adoption(self, model: type[AbstractAPIKey], state: ProjectState) -> bool:
        """Whether the migrations leave this key model's table as the package made it."""
        model_state = state.models.get((model._meta.app_label, model._meta.model_name or ""))
        if model_state is None or "prefix" not in model_state.fields:
            return False
        if "lookup_id" in model_state.fields:
            return False
        stored_pk = next(field for field in model_state.fields.values() if field.primary_key)
        kept = isinstance(model._meta.pk, models.CharField)
        if isinstance(stored_pk, models.CharField) and not kept:
            raise CommandError(
                f"{model._meta.label} would lose its table's primary key, a string, which "
                "other tables may point at: add `id = models.CharField(max_length=150, "
                f"primary_key=True, editable=False)` to the model, as {GUIDE} shows, then run "
                "this command again."
            )
        return True
