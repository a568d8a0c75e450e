# The two set-up commands of the README: `make demo` and `make test`.
.PHONY: setup demo test test-fast lint bench

setup:
	@scripts/setup

# Ingest the bundled sample into ./kho-data and search it (embedded mode, no servers).
demo: setup
	KHO_HOME=$(CURDIR)/kho-data .venv/bin/kho ingest samples --batch sample --unit demo
	KHO_HOME=$(CURDIR)/kho-data .venv/bin/kho search "quyết định"
	KHO_HOME=$(CURDIR)/kho-data .venv/bin/kho search "dan van"

# The whole test suite, with Redis, PostgreSQL and Elasticsearch started by scripts/services:
# two processes, one test module each; then the fault tests alone (they stop the services).
test: setup
	scripts/services up >/dev/null
	@scripts/setup  # again: veraPDF, once the services brought Java and Maven
	eval "$$(scripts/services env)" && \
	  .venv/bin/pytest -n 2 --dist loadfile --ignore=tests/test_faults.py && \
	  .venv/bin/pytest tests/test_faults.py

test-fast: setup
	.venv/bin/pytest -m "not slow and not services" -n 2

# ruff everywhere; mypy on the core and the stages the workers run
lint: setup
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy -p kho.core -p kho.index -p kho.workers -p kho.ingest
