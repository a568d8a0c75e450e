# The two set-up commands of the README: `make demo` and `make test`.
.PHONY: setup demo test test-fast lint bench

setup:
	@scripts/setup

# Ingest the bundled sample into ./kho-data and search it (embedded mode, no servers).
# Then file them as a dossier of a fonds and write its exports and archival package, as an
# archivist cleared for the two MẬT samples (a principal of kho-data/kho.toml).
DEMO = KHO_HOME=$(CURDIR)/kho-data .venv/bin/kho
demo: setup
	@test -f kho-data/kho.toml || (umask 077 && mkdir -p kho-data && printf \
	  '[principals.archivist]\nclearance = 3\nunits = ["*"]\n' > kho-data/kho.toml)
	$(DEMO) fonds show DEMO >/dev/null 2>&1 || $(DEMO) fonds create DEMO --set name="Phông mẫu"
	$(DEMO) ingest samples --batch sample --unit demo --fonds DEMO --dossier 01-MAU
	$(DEMO) search "quyết định"
	$(DEMO) search "dan van"
	$(DEMO) dossier show 01-MAU --fonds DEMO --as archivist
	rm -rf kho-data/exports && (umask 077 && mkdir kho-data/exports)
	$(DEMO) dossier export 01-MAU --fonds DEMO --format csv --out kho-data/exports/muc-luc.csv --as archivist
	$(DEMO) dossier export 01-MAU --fonds DEMO --format pdf --out kho-data/exports/ho-so.pdf --as archivist
	$(DEMO) dossier package 01-MAU --fonds DEMO --out kho-data/exports/package --as archivist
	$(DEMO) dossier verify kho-data/exports/package
	$(DEMO) verify

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
