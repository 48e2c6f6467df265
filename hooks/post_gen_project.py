"""Finish the new project: secrets in .env, unused option files removed, the database migrated
and the first API key created and printed once. Never touches the network."""

import importlib.util
import os
import secrets
import shlex
import shutil
import sys
from pathlib import Path

PROJECT = Path.cwd()
SLUG = "{{ cookiecutter.project_slug }}"
DATABASE = "{{ cookiecutter.database }}"
CACHE = "{{ cookiecutter.cache }}"
FIRST_KEY_NAME = {{ cookiecutter.first_key_name|tojson }}

# Files that only one option uses, removed when that option is not chosen.
OPTION_FILES = {
    ("database", "sqlite"): ["tests/test_sqlite.py"],
    ("database", "postgresql"): ["tests/test_postgresql.py"],
    ("cache", "redis"): ["tests/test_redis_cache.py"],
}
REQUIREMENTS = [
    "django",
    "rest_framework",
    "environ",
    "whitenoise",
    "drf_spectacular",
    "drf_spectacular_sidecar",
]
if DATABASE == "postgresql":
    REQUIREMENTS.append("psycopg")


def remove_unused_option_files() -> None:
    chosen = {("database", DATABASE), ("cache", CACHE)}
    for option, paths in OPTION_FILES.items():
        if option not in chosen:
            for path in paths:
                (PROJECT / path).unlink(missing_ok=True)


def keep_chosen_lock_files() -> None:
    """Keep the lock files compiled for the chosen database and cache, at the project root."""
    locks = PROJECT / "locks"
    for name in ("requirements.lock", "requirements-dev.lock"):
        (locks / f"{DATABASE}-{CACHE}" / name).replace(PROJECT / name)
    shutil.rmtree(locks)


def write_env_file() -> None:
    """Write .env, readable by its owner only. An existing one is kept: it holds live secrets."""
    path = PROJECT / ".env"
    if path.exists():
        print(f"Kept the existing {path}.")
        return
    lines = [
        f"DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}",
        "DJANGO_ALLOWED_HOSTS=localhost,127.0.0.1,[::1]",
    ]
    if DATABASE == "postgresql":
        lines.append(f"DATABASE_URL=postgres:///{SLUG}")
    if CACHE == "redis":
        lines.append("REDIS_URL=redis://127.0.0.1:6379/0")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as env_file:
        os.fchmod(env_file.fileno(), 0o600)
        env_file.write("\n".join(lines) + "\n")


def print_manual_steps(reason: str) -> None:
    quoted_name = shlex.quote(FIRST_KEY_NAME)
    steps = [f"cd {shlex.quote(str(PROJECT))}"]
    if any(importlib.util.find_spec(name) is None for name in REQUIREMENTS):
        steps += [
            "python3 -m venv .venv && . .venv/bin/activate",
            "pip install -r requirements-dev.txt",
        ]
    if DATABASE == "postgresql":
        steps.append(f"createdb {SLUG}  # or set DATABASE_URL in .env")
    steps += ["python manage.py migrate", f"python manage.py createapikey --name {quoted_name}"]
    print(f"The first API key was not created: {reason}")
    print("To create it, run:")
    for step in steps:
        print(f"    {step}")


def create_first_key() -> None:
    missing = [name for name in REQUIREMENTS if importlib.util.find_spec(name) is None]
    if missing:
        print_manual_steps(
            f"the Python that ran cookiecutter ({sys.executable}) lacks {', '.join(missing)}."
        )
        return
    sys.path.insert(0, str(PROJECT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    import django
    from django.core.management import call_command
    from django.db import OperationalError

    try:
        django.setup()
        call_command("migrate", interactive=False, verbosity=0)
        from {{ cookiecutter.project_slug }}.api_keys.models import APIKey

        _, key = APIKey.objects.create_key(name=FIRST_KEY_NAME)
    except ImportError as error:
        print_manual_steps(f"the Python that ran cookiecutter cannot import {error.name}.")
        return
    except OperationalError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print_manual_steps(f"the database could not be used ({first_line}).")
        return
    except Exception as error:  # any other failure: generation still succeeds, with the steps
        print_manual_steps(f"setting up the project failed ({type(error).__name__}: {error}).")
        return
    print("The first API key is shown this once and stored only as a hash. Copy it now.")
    print(f"First API key: {key}")
    print("Try it (after `python manage.py runserver`):")
    print(f'    curl -H "Authorization: Api-Key {key}" http://127.0.0.1:8000/api/v1/whoami/')


if __name__ == "__main__":
    remove_unused_option_files()
    keep_chosen_lock_files()
    write_env_file()
    create_first_key()
