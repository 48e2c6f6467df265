"""Finish the new project: secrets in .env, unused option files removed, and the project made
ready to run: its environment, its database and the first API key, printed once.

When the Python running cookiecutter has the project's requirements, the hook migrates and
creates the key with it. Otherwise, unless the answer to set_up_environment is no, it creates
.venv (with uv when it is on PATH, else venv and pip) and installs the requirements there: the
only step that uses the network. Whatever cannot be done is said in one sentence, followed by
the commands that finish the job; generation succeeds either way.
"""

import importlib.util
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path.cwd()
SLUG = "{{ cookiecutter.project_slug }}"
DATABASE = "{{ cookiecutter.database }}"
CACHE = "{{ cookiecutter.cache }}"
FIRST_KEY_NAME = {{ cookiecutter.first_key_name|tojson }}
SET_UP_ENVIRONMENT = "{{ cookiecutter.set_up_environment }}" == "yes"
FROM_PACKAGE = "{{ cookiecutter.from_djangorestframework_api_key }}"  # "yes" or "no"
# cruft records the template's commit in the context it renders with (create, update, diff).
RENDERED_BY_CRUFT = {{ ("_commit" in cookiecutter)|tojson|capitalize }}

# Files that only one option uses, removed when that option is not chosen.
OPTION_FILES = {
    ("database", "sqlite"): ["tests/test_sqlite.py"],
    ("database", "postgresql"): ["tests/test_postgresql.py"],
    ("cache", "redis"): ["tests/test_redis_cache.py"],
    ("from_djangorestframework_api_key", "yes"): [
        f"{SLUG}/api_keys/legacy.py",
        f"{SLUG}/api_keys/management/commands/importapikeys.py",
        f"{SLUG}/api_keys/management/commands/moveapikeymigrations.py",
        f"{SLUG}/api_keys/tests/test_legacy.py",
        f"{SLUG}/api_keys/tests/test_import.py",
        f"{SLUG}/api_keys/tests/test_move_migrations.py",
        "docs/moving-from-djangorestframework-api-key.md",
    ],
}
# Modules that migrating and creating a key import, to tell whether this Python can do it.
REQUIREMENTS = [
    "django",
    "rest_framework",
    "environ",
    "whitenoise",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_otp",
    "segno",
]
if DATABASE == "postgresql":
    REQUIREMENTS.append("psycopg")

VENV = PROJECT / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
# What .venv gets, for pip and uv alike, and in the printed commands: the one place to change
# when the project installs from another file.
INSTALL_ARGUMENTS = ["--require-hashes", "-r", "requirements-dev.lock"]
MINIMUM_PYTHON = (3, 11)  # requires-python in pyproject.toml
SETTINGS_MODULE = "config.settings.local"
HEARTBEAT_SECONDS = 10  # while setting up .venv, say that it goes on at least this often
COMMAND_TIMEOUT = 300  # seconds for migrate and createapikey


class SetupStopped(Exception):
    """A step could not be done; the message says why, as the end of a sentence (no period)."""


def remove_unused_option_files() -> None:
    chosen = {("database", DATABASE), ("cache", CACHE)}
    chosen.add(("from_djangorestframework_api_key", FROM_PACKAGE))
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


def missing_requirements() -> list[str]:
    return [name for name in REQUIREMENTS if importlib.util.find_spec(name) is None]


def last_line(output: str) -> str:
    """The line of a command's output that says what went wrong: the last one not indented
    (a traceback ends with the exception, whose message may go on in indented lines)."""
    lines = [line.strip() for line in output.splitlines() if line.strip() and not line[0].isspace()]
    return lines[-1] if lines else "no message"


def project_environment() -> dict[str, str]:
    """The environment for commands run in .venv, with the settings manage.py would use.

    PYTHONPATH and PYTHONHOME are left out: .venv must hold everything itself, and pip would
    count packages found through PYTHONPATH as installed.
    """
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("PYTHONPATH", "PYTHONHOME")
    }
    environment["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    return environment


def tries_createdb() -> bool:
    """Whether the hook runs createdb: PostgreSQL, and the database is .env's, on the local
    server (a DATABASE_URL in the environment wins over .env, and names a database of its own)."""
    return DATABASE == "postgresql" and "DATABASE_URL" not in os.environ


def create_database() -> bool:
    """Create .env's database with createdb, where the local server lets this user do it.

    True when the database exists now; False when createdb was not tried (no PostgreSQL, a
    DATABASE_URL of the user's own, or no createdb here: migrate tells whether a server answers).
    """
    createdb = shutil.which("createdb")
    if not tries_createdb() or createdb is None:
        return False
    try:
        result = subprocess.run(
            [createdb, SLUG],
            env={**os.environ, "LC_ALL": "C"},  # English messages, to recognise "already exists"
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SetupStopped(f"createdb could not be run ({error})") from None
    if result.returncode != 0 and "already exists" not in result.stderr:
        raise SetupStopped(f"createdb could not create the database ({last_line(result.stderr)})")
    return True


def run_in_venv(*args: str) -> str:
    """Standard output of `.venv/bin/python manage.py <args>`; SetupStopped if it fails."""
    command = [str(VENV_PYTHON), "manage.py", *args]
    try:
        result = subprocess.run(
            command,
            env=project_environment(),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SetupStopped(
            f"manage.py {args[0]} did not finish within {COMMAND_TIMEOUT} seconds"
        ) from None
    except OSError as error:
        raise SetupStopped(f"manage.py {args[0]} could not be run ({error})") from None
    if result.returncode != 0:
        raise SetupStopped(f"manage.py {args[0]} failed ({last_line(result.stderr)})")
    return result.stdout


def run_with_heartbeat(command: list[str], what: str, started: float) -> None:
    """Run an installer, its messages going to the terminal, saying every HEARTBEAT_SECONDS
    that it still runs (with the seconds since `started`); SetupStopped if it fails."""
    try:
        process = subprocess.Popen(command, cwd=PROJECT, env=project_environment())
    except OSError as error:
        raise SetupStopped(f"{what} could not start ({error})") from None
    while True:
        try:
            returncode = process.wait(timeout=HEARTBEAT_SECONDS)
            break
        except subprocess.TimeoutExpired:
            print(f"    still {what} ({time.monotonic() - started:.0f} s)...")
    if returncode != 0:
        raise SetupStopped(f"{what} failed (exit code {returncode}; its message is above)")


def install_environment(uv: str | None, started: float) -> None:
    """Create .venv (unless it has a Python already) and install the requirements into it."""
    if not VENV_PYTHON.exists():
        if uv:
            # --seed puts pip in .venv, so `pip install` works there as in any venv.
            create = [uv, "venv", "--quiet", "--seed", "--python", sys.executable, str(VENV)]
        else:
            create = [sys.executable, "-m", "venv", str(VENV)]
        run_with_heartbeat(create, "creating .venv", started)
    if uv:
        # --compile-bytecode, as pip does: otherwise the first commands in .venv compile it.
        install = [uv, "pip", "install", "--quiet", "--compile-bytecode"]
        install += ["--python", str(VENV_PYTHON)]
    else:
        install = [str(VENV_PYTHON), "-m", "pip", "install", "--quiet"]
        install.append("--disable-pip-version-check")
    run_with_heartbeat([*install, *INSTALL_ARGUMENTS], "installing the requirements", started)


def print_manual_steps(
    reason: str, *, install: bool, activate: bool, database: bool, python: str = "python3"
) -> None:
    """Say why the project is not ready, then the commands that finish the job.

    install: .venv and its requirements are still to make (with `python`); activate: .venv is
    ready to use; database: createdb is still to run (PostgreSQL).
    """
    steps = [f"cd {shlex.quote(str(PROJECT))}"]
    if install:
        steps += [
            f"{python} -m venv .venv && . .venv/bin/activate",
            f"pip install {' '.join(INSTALL_ARGUMENTS)}",
        ]
    elif activate:
        steps.append(". .venv/bin/activate")
    if database and tries_createdb():
        steps.append(f"createdb {SLUG}  # or set DATABASE_URL in .env")
    steps += [
        "python manage.py migrate",
        f"python manage.py createapikey --name {shlex.quote(FIRST_KEY_NAME)}",
    ]
    print(f"The first API key was not created: {reason}.")
    print("To finish (.venv is ready), run:" if activate else "To finish, run:")
    for step in steps:
        print(f"    {step}")


def announce(key: str, *, activate: bool) -> None:
    start = "python manage.py runserver"
    if activate:
        start = f". .venv/bin/activate && {start}"
    print("The first API key is shown this once and stored only as a hash. Copy it now.")
    print(f"First API key: {key}")
    print(f"Try it: start the project with `{start}` in {PROJECT}, then")
    print(f'    curl -H "Authorization: Api-Key {key}" http://127.0.0.1:8000/api/v1/whoami/')


def set_up_in_venv() -> None:
    """Make .venv, install the requirements, create the database, migrate, create the key."""
    if sys.version_info < MINIMUM_PYTHON:
        needed = ".".join(map(str, MINIMUM_PYTHON))
        print_manual_steps(
            f"the project needs Python {needed} or newer, and cookiecutter runs on "
            f"{sys.version.split()[0]} ({sys.executable})",
            install=True,
            activate=False,
            database=True,
            python=f"python{needed}",
        )
        return
    uv = shutil.which("uv")
    made_venv = not VENV.exists()
    print(
        f"Setting up .venv with {'uv' if uv else 'venv and pip'}: install "
        f"{' '.join(INSTALL_ARGUMENTS)} from the package index (up to a few minutes)..."
    )
    started = time.monotonic()
    finished = False
    try:
        install_environment(uv, started)
        finished = True
    except SetupStopped as error:
        reason = str(error)
    finally:
        if not finished and made_venv:  # a failure or an interrupt: leave no half-made .venv
            shutil.rmtree(VENV, ignore_errors=True)
    if not finished:
        print_manual_steps(reason, install=True, activate=False, database=True)
        return
    print(
        f"Installed in {time.monotonic() - started:.0f} s. "
        "Migrating the database and creating the first API key..."
    )
    database_created = False
    try:
        database_created = create_database()
        run_in_venv("migrate", "--no-input", "--verbosity", "0")
        printed = run_in_venv("createapikey", "--name", FIRST_KEY_NAME).split()
        if len(printed) != 1:  # it prints the key alone
            raise SetupStopped(f"createapikey printed {len(printed)} words instead of one key")
        [key] = printed
    except SetupStopped as error:
        print_manual_steps(str(error), install=False, activate=True, database=not database_created)
        return
    announce(key, activate=True)


def set_up_in_process() -> None:
    """Create the database, migrate and create the key with the Python running cookiecutter."""
    sys.path.insert(0, str(PROJECT))
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    import django
    from django.core.management import call_command
    from django.db import OperationalError

    database_created = False
    try:
        database_created = create_database()
        django.setup()
        call_command("migrate", interactive=False, verbosity=0)
        from {{ cookiecutter.project_slug }}.api_keys.models import APIKey

        _, key = APIKey.objects.create_key(name=FIRST_KEY_NAME)
    except SetupStopped as error:
        reason = str(error)
    except ImportError as error:
        reason = f"the Python that ran cookiecutter cannot import {error.name}"
    except OperationalError as error:
        reason = f"the database could not be used ({last_line(str(error) or type(error).__name__)})"
    except Exception as error:  # any other failure: generation still succeeds, with the steps
        reason = f"setting up the project failed ({type(error).__name__}: {error})"
    else:
        announce(key, activate=False)
        return
    print_manual_steps(reason, install=False, activate=False, database=not database_created)


def parent_command() -> list[str]:
    """The command line of the process that runs this hook (cookiecutter's, or cruft's)."""
    try:
        cmdline = Path(f"/proc/{os.getppid()}/cmdline").read_text(errors="replace")
        return cmdline.rstrip("\0").split("\0")
    except OSError:  # no /proc (macOS): ps tells
        try:
            ps = ["ps", "-o", "args=", "-p", str(os.getppid())]
            return subprocess.run(ps, capture_output=True, text=True, timeout=5).stdout.split()
        except (OSError, subprocess.SubprocessError):
            return []


def rendered_to_compare() -> bool:
    """Whether cruft renders this copy only to compare two versions of the template (`cruft
    update`, `cruft diff`): its files count, but no environment, database or key is made, and
    nothing is printed. `cruft create` makes a ready project, as cookiecutter does."""
    if not RENDERED_BY_CRUFT:
        return False
    command = parent_command()
    return any(word in ("update", "diff") for word in command[1:])


def make_ready() -> None:
    missing = missing_requirements()
    if not missing:
        set_up_in_process()
    elif SET_UP_ENVIRONMENT:
        set_up_in_venv()
    else:
        print_manual_steps(
            f"set_up_environment was answered no, and the Python that ran cookiecutter "
            f"({sys.executable}) lacks {', '.join(missing)}",
            install=True,
            activate=False,
            database=True,
        )


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # in order with the installers' own output
    remove_unused_option_files()
    keep_chosen_lock_files()
    write_env_file()
    if rendered_to_compare():
        sys.exit(0)
    try:
        make_ready()
    except KeyboardInterrupt:  # Ctrl-C: a .venv made here is already removed
        sys.exit("Interrupted: the project is not set up.")
