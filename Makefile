# floor-kiosk: set-up, demo, tests and benchmarks.
# `make demo` and `make test` each do the whole set-up first, so either works on a fresh clone.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
VENDOR := kiosk/web/static/vendor

.PHONY: setup demo test bench bench-quick sysdeps clean

setup: $(STAMP) $(VENDOR)/socket.io.min.js

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed"' 
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test]'
	touch $(STAMP)

# Third-party front-end code comes from the npm registry and is never committed.
$(VENDOR)/socket.io.min.js: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	mkdir -p $(VENDOR)
	cp node_modules/socket.io-client/dist/socket.io.min.js $(VENDOR)/
	cp node_modules/socket.io-client/dist/socket.io.min.js.map $(VENDOR)/

# Chromium and CJK fonts for the browser tests (installed with apt when missing and we may),
# and the local PostgreSQL the entry-log tests run on (started when it is installed but down).
sysdeps:
	deploy/ensure-system-deps.sh
	deploy/ensure-services.sh

demo: setup
	$(VENV)/bin/kiosk demo

# The whole suite on SQLite files, then the service and web tests again on the local PostgreSQL.
test: setup sysdeps
	$(VENV)/bin/python -m pytest
	KIOSK_TEST_DATABASE=postgresql $(VENV)/bin/python -m pytest tests/integration tests/web

bench: setup
	@for b in bench/[a-z]*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

bench-quick: setup
	@for b in bench/[a-z]*.py; do echo "== $$b"; $(PY) $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) node_modules $(VENDOR) .pytest_cache
