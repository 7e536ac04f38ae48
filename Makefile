# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
PORT ?= 8000

.PHONY: install run test lint format lock bench image-smoke clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip sync --quiet --python $(BIN)/python --require-hashes requirements.lock
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/python manage.py migrate --noinput --verbosity 0
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

# The suite runs in TEST_WORKERS processes (pytest-xdist; 0 for one process),
# each module whole in one worker so data a module builds once is built once.
# Each worker has its own PostgreSQL test database and Redis db
# (tests/conftest.py). PYTEST_ARGS adds to the command: paths, -k, -x...
TEST_WORKERS ?= 2

test: install
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes \
		--python-version 3.11 --python-platform x86_64-unknown-linux-gnu -o requirements.lock

# Benchmarks run on a scratch PostgreSQL database (dropped and rebuilt by each).
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/portal_bench

bench: install
	-createdb -h 127.0.0.1 -U postgres portal_bench 2>/dev/null
	@for b in bench/bench_*.py; do \
		BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python $$b || exit 1; done

# Build deploy/Dockerfile with podman and run every role of the image (root;
# installs podman and mmdebstrap if missing; see deploy/README.md).
image-smoke:
	.ci/image-smoke

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache
