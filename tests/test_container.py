"""The generated Dockerfile and compose.yaml: the default bake's image is built and run here.

No container registry is reachable from the machines these tests run on, so the image is built
on a Debian base made locally with mmdebstrap (`podman build --from` puts it on the
Dockerfile's first FROM line, its base stage), with podman on the vfs storage driver and chroot
isolation. The base trusts the certificate authorities this machine trusts, so that pip inside
the build reaches PyPI the way the host does, and has no system time-zone database (the image
must not need one). `podman run` cannot set resource limits in these sandboxes, so the image's
command runs with `buildah run`, on the host's network, bound to 127.0.0.1.

podman and buildah use storage of the tests' own (build/container-storage/, with its own
storage.conf), so the machine's podman configuration, whatever driver it uses, neither breaks
these tests nor is touched by them. The base and the image are kept there under a tag that is
a digest of what they are made from, so a later run with the same inputs reuses them; older
tags are removed.

compose.yaml is checked, for every bake, against the Compose Specification's JSON schema (the
copy check-jsonschema ships: no `docker compose` or `podman compose` is installed here), and
for what the schema cannot see; its migrate command runs in the image above.
"""

import fnmatch
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.baking import (
    ENV_FILES,
    TEMPLATE_DIR,
    BakedProject,
    assert_succeeded,
    clean_environment,
    record_figures,
    unavailable,
)
from tests.servers import (
    PROXY_HEADERS,
    child_pids,
    copy_project,
    free_port,
    get,
    wait_until_serving,
)

TOOLS = ("podman", "buildah", "mmdebstrap")
# Storage of the tests' own: images under build/, run-time state in the temporary folder (it
# must not outlive a reboot), a storage.conf that no machine-wide file can change.
STORAGE_ROOT = TEMPLATE_DIR / "build" / "container-storage"
RUN_ROOT = Path(tempfile.gettempdir()) / f"template-test-containers-{os.getuid()}"
STORAGE_CONF = STORAGE_ROOT.parent / "container-storage.conf"
STORAGE = (
    f"--root={STORAGE_ROOT}",
    f"--runroot={RUN_ROOT}",
    "--storage-driver=vfs",
)
BASE_SUITE = "bookworm"
BASE_PACKAGES = "python3,python3-venv,ca-certificates"
# The base has no system time-zone database: Python's zoneinfo must find it in the image's
# packages (tzdata, in requirements.txt).
WITHOUT_ZONEINFO = "--customize-hook=rm -rf $1/usr/share/zoneinfo"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BASE_REPOSITORY = "localhost/template-test-base"
BUILD_SECONDS = 900


def container_environment() -> dict[str, str]:
    """The environment for podman and buildah: the storage.conf of the tests' own."""
    STORAGE_CONF.parent.mkdir(parents=True, exist_ok=True)
    STORAGE_CONF.write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{STORAGE_ROOT}"\nrunroot = "{RUN_ROOT}"\n'
    )
    return {**os.environ, "CONTAINERS_STORAGE_CONF": str(STORAGE_CONF)}


def run(
    *command: str, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command; stderr is merged into stdout."""
    return subprocess.run(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def podman(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    # libpod's own state (--tmpdir) apart too: a machine's podman keeps its own in /run/libpod.
    tmpdir = f"--tmpdir={RUN_ROOT}/libpod"
    return run("podman", *STORAGE, tmpdir, *args, timeout=timeout, env=container_environment())


def buildah(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return run("buildah", *STORAGE, *args, timeout=timeout, env=container_environment())


def image_exists(tag: str) -> bool:
    return podman("image", "exists", tag).returncode == 0


def remove_other_tags(repository: str, keep: str) -> None:
    """Remove the images of `repository` other than `keep`: earlier runs' builds."""
    listed = podman("images", "--format", "{{.Repository}}:{{.Tag}}", repository).stdout.split()
    for tag in listed:
        if tag != keep:
            podman("rmi", "--force", tag)


def documented_podman_build_options(project: BakedProject) -> list[str]:
    """The options docs/deploying.md gives `podman build`, before its tag and context."""
    text = (project.path / "docs" / "deploying.md").read_text()
    match = re.search(r"podman build (.*?) -t ", text)
    assert match, "docs/deploying.md gives no `podman build ... -t` command"
    return match[1].split()


def digest(*parts: bytes) -> str:
    hashed = hashlib.sha256()
    for part in parts:
        hashed.update(hashlib.sha256(part).digest())
    return hashed.hexdigest()[:16]


def ignored(relative: str, rules: list[tuple[bool, str]]) -> bool:
    """Whether .dockerignore's rules leave `relative` out of the build context. Only the forms
    the generated file uses: paths from the root, `**/` for any depth, a trailing `/` for a
    folder (everything in it), and `!` to keep a path again; the last matching rule wins."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: end + 1]) for end in range(len(parts))]
    left_out = False
    for keep, pattern in rules:
        forms = (
            [pattern, pattern[3:], f"*/{pattern[3:]}"] if pattern.startswith("**/") else [pattern]
        )
        if any(fnmatch.fnmatchcase(path, form) for path in candidates for form in forms):
            left_out = not keep
    return left_out


def context_digest(project: Path) -> bytes:
    """A digest of the build context: the files that .dockerignore lets through."""
    rules = []
    for line in (project / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keep = line.startswith("!")
            rules.append((keep, line.removeprefix("!").rstrip("/")))
    hashed = hashlib.sha256()
    for path in sorted(project.rglob("*")):
        relative = path.relative_to(project).as_posix()
        if path.is_file() and not ignored(relative, rules):
            hashed.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    return hashed.digest()


@pytest.fixture(scope="module")
def container_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        unavailable(
            f"The container tests need {', '.join(missing)} "
            "(apt-get install podman buildah mmdebstrap; .ci/run installs them)."
        )


def machine_podman(*args: str) -> subprocess.CompletedProcess[str]:
    """podman as the machine is configured: no flag, no storage.conf of ours."""
    return run("podman", *args, timeout=120)


MACHINE_STORAGE = "{{.Store.GraphDriverName}} {{.Store.GraphRoot}}"


@pytest.fixture(scope="module")
def machine_storage(container_tools: None) -> str:
    """The machine's podman storage, used first with its defaults (as a machine where podman
    ran before has it), before any test of this module uses podman."""
    info = machine_podman("info", "--format", MACHINE_STORAGE)
    return info.stdout.strip() if info.returncode == 0 else f"unusable: {info.stdout.strip()}"


def test_podman_used_first_with_the_machine_s_defaults_does_not_disturb_these_tests(
    machine_storage: str,
) -> None:
    info = podman("info", "--format", MACHINE_STORAGE)
    assert_succeeded(info)
    assert info.stdout.strip() == f"vfs {STORAGE_ROOT}"


@pytest.fixture(scope="module")
def base_image(
    container_tools: None, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> str:
    """A Debian base with python3 and its venv module, made with mmdebstrap once and kept."""
    ca_bundle = HOST_CA_BUNDLE.read_bytes() if HOST_CA_BUNDLE.is_file() else b""
    recipe = f"{BASE_SUITE} {BASE_PACKAGES} {WITHOUT_ZONEINFO}"
    inputs = digest(recipe.encode(), ca_bundle)
    tag = f"{BASE_REPOSITORY}:{BASE_SUITE}-{inputs}"
    if image_exists(tag):
        return tag
    work = tmp_path_factory.mktemp("base-image")
    tarball = work / "base.tar"
    command = ["mmdebstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", WITHOUT_ZONEINFO]
    if ca_bundle:
        command.append(f"--customize-hook=copy-in {HOST_CA_BUNDLE} {HOST_CA_BUNDLE.parent}")
    started = time.perf_counter()
    assert_succeeded(run(*command, BASE_SUITE, str(tarball), timeout=600))
    made = time.perf_counter() - started
    assert_succeeded(podman("import", str(tarball), tag))
    tarball.unlink()
    remove_other_tags(BASE_REPOSITORY, tag)
    record_figures(
        request.config,
        "container base image",
        [f"mmdebstrap {BASE_SUITE} ({BASE_PACKAGES}): {made:.0f} s, then imported as {tag}"],
    )
    return tag


@pytest.fixture(scope="module")
def image(default_project: BakedProject, base_image: str, request: pytest.FixtureRequest) -> str:
    """The default bake's image, built with its Dockerfile on the local base (or reused)."""
    repository = f"localhost/template-test-{default_project.slug.replace('_', '-')}"
    options = " ".join(documented_podman_build_options(default_project)).encode()
    context = context_digest(default_project.path)
    tag = f"{repository}:{digest(base_image.encode(), options, context)}"
    built = "reused from an earlier run with the same inputs"
    if not image_exists(tag):
        started = time.perf_counter()
        result = podman(
            "build",
            "--isolation=chroot",
            "--layers=false",  # on vfs every kept layer is a full copy of the file system
            # As docs/deploying.md builds (--format docker: OCI images have no HEALTHCHECK).
            *documented_podman_build_options(default_project),
            f"--from={base_image}",  # in place of the Dockerfile's python:3.13-slim
            f"--tag={tag}",
            str(default_project.path),
            timeout=BUILD_SECONDS,
        )
        # podman has, once in CI, tagged the image and then failed to remove a build stage's
        # image that one of its own build containers still held. The image is whole (the tests
        # below judge it); the stage's image stays in the tests' storage.
        last_line = result.stdout.strip().rpartition("\n")[2]
        if not (last_line.endswith("image is in use by a container") and image_exists(tag)):
            assert_succeeded(result)
        built = f"built in {time.perf_counter() - started:.0f} s"
        if result.returncode != 0:
            built += f" (podman then said: {last_line})"
        remove_other_tags(repository, tag)
    size = int(podman("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip())
    record_figures(
        request.config,
        "container image",
        [f"{tag}: {size / 1e6:.0f} MB on the {BASE_SUITE} base, {built}"],
    )
    return tag


@pytest.fixture(scope="module")
def image_config(image: str) -> dict[str, Any]:
    """The image's config (User, Cmd, Env, ...) and its Healthcheck."""
    result = podman("image", "inspect", image)
    assert_succeeded(result)
    inspected = json.loads(result.stdout)[0]
    return {**inspected["Config"], "Healthcheck": inspected["Healthcheck"]}


@pytest.fixture(scope="module")
def container(image: str) -> Iterator[str]:
    """A buildah working container from the image; its file system lives until the module ends."""
    name = f"template-test-{secrets.token_hex(4)}"
    assert_succeeded(buildah("from", "--pull-never", f"--name={name}", image))
    try:
        yield name
    finally:
        buildah("rm", name)


def compose_file(project: BakedProject) -> dict[str, Any]:
    return yaml.safe_load((project.path / "compose.yaml").read_text())


def in_container(
    container: str, environment: dict[str, str], *command: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a command in the container as the image's user, in /app, on the host's network."""
    variables = [f"--env={name}={value}" for name, value in environment.items()]
    return subprocess.run(
        ["buildah", *STORAGE, "run", "--isolation=chroot", *variables, container, "--", *command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=container_environment(),
    )


def descendants(pid: int) -> set[int]:
    found, queue = set(), [pid]
    while queue:
        children = child_pids(queue.pop())
        queue.extend(children - found)
        found |= children
    return found


def process_uid(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


def process_command(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")


def stop_gunicorn(runner: subprocess.Popen[bytes]) -> None:
    """SIGTERM to gunicorn's master (stopping `buildah run` would orphan the workers), then
    SIGKILL to whatever is left after 20 s."""
    gunicorns = {pid for pid in descendants(runner.pid) if "gunicorn" in process_command(pid)}
    workers = set().union(*(child_pids(pid) for pid in gunicorns))
    for pid in gunicorns - workers:
        os.kill(pid, signal.SIGTERM)
    try:
        runner.wait(timeout=20)
    except subprocess.TimeoutExpired:
        for pid in descendants(runner.pid):
            os.kill(pid, signal.SIGKILL)
        runner.kill()
        runner.wait()


def test_image_leaves_secrets_and_local_state_out(
    default_project: BakedProject, container: str, image_config: dict[str, Any]
) -> None:
    # The bake has them (the build context is the bake); .dockerignore keeps them out.
    assert (default_project.path / ".env").is_file()
    assert (default_project.path / "db.sqlite3").is_file()
    mounted = buildah("mount", container)
    assert_succeeded(mounted)
    root = Path(mounted.stdout.strip())
    try:
        app = root / "app"
        assert (app / "manage.py").is_file()
        absent = [".env", "db.sqlite3", ".venv", "tests", "conftest.py"]
        absent.append(f"{default_project.slug}/api_keys/tests")
        for name in absent:
            assert not (app / name).exists(), f"/app/{name} is in the image"
        # collectstatic ran at build time: the manifest of hashed names is there.
        assert (app / "staticfiles" / "staticfiles.json").is_file()
        # The code belongs to root: the app user cannot change it.
        assert (app / "config" / "settings" / "production.py").stat().st_uid == 0
        assert (root / "data").stat().st_uid == 10001  # the SQLite database's folder
        # No system time-zone database: keyed requests (test below) rely on the tzdata package.
        assert not (root / "usr" / "share" / "zoneinfo").exists()
    finally:
        buildah("umount", container)
    assert image_config["User"] == "10001:10001"
    assert image_config["Cmd"] == ["gunicorn", "config.wsgi"]
    assert "DJANGO_SETTINGS_MODULE=config.settings.production" in image_config["Env"]
    assert "/healthz/" in " ".join(image_config["Healthcheck"]["Test"])


def test_build_context_holds_no_env_file_but_the_example(
    default_project: BakedProject, container_tools: None, tmp_path: Path
) -> None:
    """What `docker build .` in the project folder sends to the build, as podman reads
    .dockerignore: no env file of a deployment, wherever it is; .env.example only."""
    project = copy_project(default_project, tmp_path)
    for name in ENV_FILES:
        (project / name).parent.mkdir(exist_ok=True)
        (project / name).write_text(f"DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}\n")
    # An image of the build context alone: the project's .dockerignore, every file copied in.
    containerfile = tmp_path / "Containerfile"
    containerfile.write_text("FROM scratch\nCOPY . /context/\n")
    tag = f"localhost/template-test-context:{secrets.token_hex(4)}"
    built = podman("build", f"--file={containerfile}", f"--tag={tag}", str(project))
    assert_succeeded(built)
    name = f"template-test-context-{secrets.token_hex(4)}"
    try:
        assert_succeeded(buildah("from", "--pull-never", f"--name={name}", tag))
        mounted = buildah("mount", name)
        assert_succeeded(mounted)
        context = Path(mounted.stdout.strip()) / "context"
        files = {path.relative_to(context).as_posix() for path in context.rglob("*")}
    finally:
        buildah("rm", name)  # unmounts it too
        podman("rmi", "--force", tag)
    assert "manage.py" in files
    env_files = {path for path in files if re.search(r"(^|/)\.env|\.env$", path)}
    assert env_files == {".env.example"}


def test_image_serves_the_api_as_a_non_root_user(
    default_project: BakedProject,
    container: str,
    image_config: dict[str, Any],
    tmp_path: Path,
    report_figures: Callable[[list[str]], None],
) -> None:
    """compose.yaml's migrate command, a key made inside the image, and the image's command."""
    compose = compose_file(default_project)
    port = free_port()
    environment = {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        # The test's requests play the TLS proxy; docs/deploying.md sets the two together.
        "DJANGO_SECURE_PROXY_SSL_HEADER": "true",
        "DJANGO_NUM_PROXIES": "1",
        "WEB_CONCURRENCY": "2",
    }
    web_environment = compose["services"]["web"]["environment"]
    assert set(environment) <= set(web_environment), "compose.yaml does not pass these on"
    started = time.perf_counter()
    migrate = in_container(container, environment, *compose["services"]["migrate"]["command"])
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    created = in_container(
        container, environment, "python", "manage.py", "createapikey", "--name", "container check"
    )
    assert created.returncode == 0, created.stdout + created.stderr
    key = created.stdout.strip()

    # The image's own command; gunicorn takes its address from GUNICORN_CMD_ARGS (on the
    # host's network the test binds 127.0.0.1, never the image's 0.0.0.0).
    serving = {**environment, "PORT": str(port), "GUNICORN_CMD_ARGS": f"--bind=127.0.0.1:{port}"}
    variables = [f"--env={name}={value}" for name, value in serving.items()]
    log_path = tmp_path / "gunicorn.log"
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        runner = subprocess.Popen(
            ["buildah", *STORAGE, "run", "--isolation=chroot", *variables, container, "--"]
            + image_config["Cmd"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=container_environment(),
        )
    try:
        wait_until_serving(runner, lambda: get(f"{base_url}/healthz/")[0] == 200, log_path)
        ready = time.perf_counter() - started

        status, _, body = get(f"{base_url}/healthz/")
        assert (status, body) == (200, b'{"status":"ok"}')
        with_key = get(
            f"{base_url}/api/v1/whoami/", {**PROXY_HEADERS, "Authorization": f"Api-Key {key}"}
        )
        assert with_key[0] == 200, with_key
        assert b'"name":"container check"' in with_key[2]
        without_key = get(f"{base_url}/api/v1/whoami/", PROXY_HEADERS)
        assert (without_key[0], without_key[1]["WWW-Authenticate"]) == (401, "Api-Key")

        # From outside: every gunicorn process (master and 2 workers) runs as the app user.
        gunicorns = [pid for pid in descendants(runner.pid) if "gunicorn" in process_command(pid)]
        assert len(gunicorns) >= 3, [process_command(pid) for pid in gunicorns]
        assert {process_uid(pid) for pid in gunicorns} == {10001}

        # The image's HEALTHCHECK command, run inside the container, finds the server healthy.
        kind, *check = image_config["Healthcheck"]["Test"]
        command = ["sh", "-c", check[0]] if kind == "CMD-SHELL" else check
        healthcheck = in_container(container, serving, *command, timeout=30)
        assert healthcheck.returncode == 0, healthcheck.stdout + healthcheck.stderr
    finally:
        stop_gunicorn(runner)
    report_figures(
        [
            f"migrate, createapikey and gunicorn ready in the image in {ready:.1f} s "
            f"(buildah run, chroot isolation)"
        ]
    )


def test_the_machine_s_podman_storage_is_left_as_it_was(machine_storage: str, image: str) -> None:
    """After the image was built (or reused) in the tests' own storage."""
    info = machine_podman("info", "--format", MACHINE_STORAGE)
    now = info.stdout.strip() if info.returncode == 0 else f"unusable: {info.stdout.strip()}"
    assert now == machine_storage
    if info.returncode == 0:
        listed = machine_podman("images", "--format", "{{.Repository}}").stdout
        assert "template-test" not in listed


def test_compose_file_follows_the_compose_specification(baked: BakedProject) -> None:
    result = baked.run_python(
        "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", "compose.yaml"
    )
    assert_succeeded(result)


def test_compose_file_wires_the_chosen_engines(baked: BakedProject) -> None:
    """What the schema cannot see: references resolve, secrets come from the environment."""
    compose = compose_file(baked)
    services = compose["services"]
    expected = {"migrate", "web"}
    if baked.bake.database == "postgresql":
        expected.add("postgres")
    if baked.bake.cache == "redis":
        expected.add("redis")
    assert set(services) == expected
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on a missing service {dependency}"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            assert source in (compose.get("volumes") or {}), f"{name}: volume {source} undeclared"
    assert services["web"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"
    }
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    environment = services["web"]["environment"]
    assert environment == services["migrate"]["environment"]
    for secret in ("DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS"):
        assert environment[secret].startswith(f"${{{secret}:?"), environment[secret]
    # Every setting production reads from the environment can be passed on (development's own,
    # such as DJANGO_ADMIN_TWO_FACTOR in local.py, need not be).
    settings = "".join(
        (baked.path / "config/settings" / name).read_text() for name in ("base.py", "production.py")
    )
    read = set(re.findall(r'(?:env(?:\.\w+)?|os\.environ\.get)\("(DJANGO_\w+)"', settings))
    assert "DJANGO_ADMIN_URL" in read  # read with os.environ.get
    assert read and read <= set(environment), read - set(environment)
    assert ("DATABASE_URL" in environment) == (baked.bake.database == "postgresql")
    assert ("REDIS_URL" in environment) == (baked.bake.cache == "redis")
    if baked.bake.database == "postgresql":
        assert "${POSTGRES_PASSWORD:?" in environment["DATABASE_URL"]
        assert services["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${")
    else:
        assert services["web"]["volumes"] == ["data:/data"]
    dockerfile = (baked.path / "Dockerfile").read_text()
    assert ("ENV DATABASE_URL=sqlite:////data/db.sqlite3" in dockerfile) == (
        baked.bake.database == "sqlite"
    )


def dockerfile_run(project: BakedProject, word: str) -> str:
    """The shell command of the Dockerfile's RUN instruction that mentions `word`."""
    instruction, instructions = [], []
    for line in (project.path / "Dockerfile").read_text().splitlines():
        if line.startswith("#"):
            continue
        instruction.append(line.removesuffix("\\"))
        if not line.endswith("\\"):
            instructions.append(" ".join(instruction))
            instruction = []
    runs = [text.removeprefix("RUN ") for text in instructions if text.startswith("RUN ")]
    return next(run for run in runs if word in run)


def test_dockerfile_collects_static_files_with_every_option(
    baked: BakedProject, tmp_path: Path
) -> None:
    """The build's collectstatic step, as the Dockerfile writes it, on each bake (the image test
    builds the default bake only): production settings load with its stand-in variables."""
    project = copy_project(baked, tmp_path)
    environment = {
        **clean_environment(),
        "DJANGO_SETTINGS_MODULE": "config.settings.production",  # the image's ENV
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    result = subprocess.run(
        ["bash", "-c", dockerfile_run(baked, "collectstatic")],
        cwd=project,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout
    assert (project / "staticfiles" / "staticfiles.json").is_file()
