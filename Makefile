# make demo: bake the default project and call its API with the first key.
# make test: the fast tier of the template's tests, on Python 3.11 + Django 5.2 and Python 3.13
#   + Django 6.1 (tests/README.md says what each tier holds).
# make test-all: every test (what .ci/run runs): the full tier on Python 3.13 + Django 6.1, and
#   the fast tier and the full tier's "each Django" tests on Python 3.11 + Django 5.2.
# make locks: recompile the generated project's lock files (UPGRADE=1 to take new releases).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DELETE_ON_ERROR:

# The interpreter for a Python version: the one on PATH if it runs, else pyenv's newest.
find_python = $(shell python$(1) -c 'import sys; print(sys.executable)' 2>/dev/null \
	|| ls -d "$$(pyenv root 2>/dev/null || echo "$$HOME/.pyenv")"/versions/$(1).*/bin/python$(1) \
	2>/dev/null | sort -V | tail -n 1)
PYTHON ?= python3
PYTHON311 ?= $(call find_python,3.11)
PYTHON313 ?= $(call find_python,3.13)
DEMO_PORT ?= 8000
PIP_INSTALL := -m pip install --quiet --disable-pip-version-check

.PHONY: demo test test-all locks

# A venv is rebuilt when requirements.txt changes; the stamp file marks a finished install.
.venv/.installed: requirements.txt
	rm -rf .venv
	$(PYTHON) -m venv .venv
	.venv/bin/python $(PIP_INSTALL) -r requirements.txt
	touch $@

.venv-py311-django52/.installed: requirements.txt
	test -n "$(PYTHON311)" || { echo "ERROR: Python 3.11 not found; set PYTHON311." >&2; exit 1; }
	rm -rf .venv-py311-django52
	$(PYTHON311) -m venv .venv-py311-django52
	.venv-py311-django52/bin/python $(PIP_INSTALL) -r requirements.txt 'Django~=5.2.0'
	touch $@

.venv-py313-django61/.installed: requirements.txt
	test -n "$(PYTHON313)" || { echo "ERROR: Python 3.13 not found; set PYTHON313." >&2; exit 1; }
	rm -rf .venv-py313-django61
	$(PYTHON313) -m venv .venv-py313-django61
	.venv-py313-django61/bin/python $(PIP_INSTALL) -r requirements.txt 'Django~=6.1.0'
	touch $@

VENVS := .venv-py311-django52/.installed .venv-py313-django61/.installed
# Two workers (xdist) on the two cores; each module of the full tier stays on one worker.
PYTEST := -m pytest -n 2 --dist loadgroup tests

# Both environments always run; the target fails if either does.
# run_tier <venv> <marker expression>
define run_tier
	$(1)/bin/python -c 'import django, platform, sys; print("===", sys.prefix, \
		"Python", platform.python_version(), "Django", django.__version__, "-m", sys.argv[1])' '$(2)'
	$(1)/bin/python $(PYTEST) -m '$(2)' || failed+=("$(1) -m '$(2)'")
endef

test: $(VENVS)
	@failed=()
	$(call run_tier,.venv-py311-django52,not slow)
	$(call run_tier,.venv-py313-django61,not slow)
	if (( $${#failed[@]} )); then
		echo "FAILED in: $${failed[*]}" >&2
		exit 1
	fi

test-all: $(VENVS)
	@failed=()
	$(call run_tier,.venv-py311-django52,not slow or each_django)
	$(call run_tier,.venv-py313-django61,slow or not slow)
	if (( $${#failed[@]} )); then
		echo "FAILED in: $${failed[*]}" >&2
		exit 1
	fi

demo: .venv/.installed
	@rm -rf build/demo
	mkdir -p build/demo
	.venv/bin/cookiecutter --no-input --output-dir build/demo . | tee build/demo/bake.log
	key=$$(sed -n 's/^First API key: //p' build/demo/bake.log)
	test -n "$$key" || { echo "ERROR: the bake printed no first API key." >&2; exit 1; }
	project=$$(find build/demo -mindepth 1 -maxdepth 1 -type d)
	base=http://127.0.0.1:$(DEMO_PORT)
	if curl --noproxy '*' -s -o /dev/null "$$base/"; then
		echo "ERROR: port $(DEMO_PORT) is in use; run make demo DEMO_PORT=<another port>." >&2
		exit 1
	fi

	echo "--- starting $$project on $$base"
	(cd "$$project" && exec "$(CURDIR)/.venv/bin/python" manage.py runserver \
		"127.0.0.1:$(DEMO_PORT)" --noreload) >build/demo/server.log 2>&1 &
	server=$$!
	trap 'kill $$server 2>/dev/null; wait $$server 2>/dev/null || true' EXIT
	for _ in $$(seq 1 50); do  # up to 10 s, unless the server stops first
		curl --noproxy '*' -fs -o /dev/null "$$base/healthz/" && break
		kill -0 $$server 2>/dev/null || break
		sleep 0.2
	done
	curl --noproxy '*' -fsS -o /dev/null "$$base/healthz/" \
		|| { cat build/demo/server.log; echo "ERROR: the server did not start." >&2; exit 1; }

	echo "--- with the key: curl -i -H 'Authorization: Api-Key $$key' $$base/api/v1/whoami/"
	with_key=$$(curl --noproxy '*' -sS -i -H "Authorization: Api-Key $$key" "$$base/api/v1/whoami/")
	echo "$$with_key"
	echo
	echo "--- without a key: curl -i $$base/api/v1/whoami/"
	without_key=$$(curl --noproxy '*' -sS -i "$$base/api/v1/whoami/")
	echo "$$without_key"
	echo

	status() { head -n 1 <<<"$$1" | cut -d ' ' -f 2; }
	if [[ $$(status "$$with_key") != 200 ]]; then
		echo "ERROR: with the key, expected 200." >&2
		exit 1
	fi
	if [[ $$(status "$$without_key") != 401 ]] \
		|| ! grep -qi '^WWW-Authenticate: Api-Key' <<<"$$without_key"; then
		echo "ERROR: without a key, expected 401 with WWW-Authenticate: Api-Key." >&2
		exit 1
	fi
	echo "--- demo passed: 200 with the key, 401 without."

# One pair of lock files per database x cache combination, compiled from the project's
# requirements*.txt as rendered for it; the post-generation hook keeps the bake's pair. The
# options are those of the project's own upgrade command (its README), so both write the same
# files.
PROJECT_DIR := {{cookiecutter.project_slug}}
COMPILE = --universal --generate-hashes --python-version 3.11 $(if $(UPGRADE),--upgrade)
locks: .venv/.installed
	for combination in sqlite-locmem sqlite-redis postgresql-locmem postgresql-redis; do
		work=build/locks/$$combination
		target="$(PROJECT_DIR)/locks/$$combination"
		rm -rf "$$work" && mkdir -p "$$work" "$$target"
		for file in requirements.txt requirements-dev.txt; do
			.venv/bin/python -c 'import sys, jinja2; database, cache = sys.argv[2].split("-"); \
				print(jinja2.Template(open(sys.argv[1]).read()).render(cookiecutter=dict( \
				database=database, cache=cache, project_slug="project", description="")))' \
				"$(PROJECT_DIR)/$$file" "$$combination" >"$$work/$$file"
		done
		cp "$$target"/*.lock "$$work/" 2>/dev/null || true  # current pins are kept unless UPGRADE
		(cd "$$work" && ../../../.venv/bin/uv pip compile --quiet $(COMPILE) \
			requirements.txt -o requirements.lock \
			&& ../../../.venv/bin/uv pip compile --quiet $(COMPILE) \
			requirements-dev.txt -c requirements.lock -o requirements-dev.lock)
		cp "$$work/requirements.lock" "$$work/requirements-dev.lock" "$$target/"
	done
