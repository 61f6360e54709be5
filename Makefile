# The same targets locally and in CI.
PYTHON ?= python3
# Keep the (large) polars build outside the clone so CI and later sessions reuse it.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/socialkpi/target
WHEEL_DIR := $(CARGO_TARGET_DIR)/wheels-socialkpi
# cargo gives this package's artifacts the same names in every clone that shares the target
# directory, and judges them fresh by the sources of the clone that built them last: forget
# their fingerprints so that a build always compiles this clone's sources (the dependencies,
# polars above all, are reused).
FORGET_OWN_BUILD = rm -rf $(CARGO_TARGET_DIR)/release/.fingerprint/socialkpi-*

.PHONY: deps build browser demo test test-rust test-python docs error-codes lint bench bench-scale clean fuzz

deps:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt

# Builds the abi3 wheel with the release profile and installs it.
build: deps
	rm -rf $(WHEEL_DIR)
	$(FORGET_OWN_BUILD)
	maturin build --release --out $(WHEEL_DIR)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps $(WHEEL_DIR)/socialkpi-*.whl

demo: build
	$(PYTHON) examples/demo.py

# The engine and the formula language: no pyo3 in either, so the tests link no libpython.
test-rust:
	$(FORGET_OWN_BUILD)
	cargo test --release -p socialkpi-engine -p socialkpi-formula --lib

# Headless Chromium opens the HTML report in its test (skipped, with a reason, where it cannot
# be installed).
browser:
	command -v chromium >/dev/null 2>&1 || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) || echo 'chromium could not be installed: the report test that opens it will be skipped'

test-python: build browser
	$(PYTHON) -m pytest

test: test-rust test-python

# The docs site into site/ (gitignored), from docs/ and mkdocs.yml. --strict: a broken link or
# reference, a page left out of the nav or a tutorial cell that fails is an error. The tutorial
# runs against the package just built; its charts and tables are the site's figures.
docs: build
	NO_MKDOCS_2_WARNING=1 JUPYTER_PLATFORM_DIRS=1 $(PYTHON) -m mkdocs build --strict

# The table of error codes in docs/errors.md, written from sk.error_codes() (tests/
# test_error_codes.py checks that it is). Uses the installed package, or PYTHONPATH=python.
error-codes:
	$(PYTHON) tools/errors_doc.py

# stubtest checks python/socialkpi/_core.pyi against the built native module: run it after
# `make build` (CI runs `make test` first).
lint: deps
	cargo fmt --check
	cargo clippy --release --workspace --all-targets -- -D warnings
	$(PYTHON) -m ruff check python tests bench examples tools docs/tutorial.ipynb
	$(PYTHON) -m ruff format --check python tests bench examples tools docs/tutorial.ipynb
	$(PYTHON) -m mypy --strict python/socialkpi
	$(PYTHON) -m mypy.stubtest socialkpi._core

# (the funnel, a second a run, takes 7 rounds: its median of 3 swung 1.2-1.7x on this machine)
bench: build
	$(PYTHON) bench/run.py $(BENCH_ARGS)
	$(PYTHON) bench/run.py --report funnel --rounds 7 $(BENCH_ARGS)
	$(PYTHON) bench/formulas.py $(BENCH_ARGS)
	$(PYTHON) bench/read.py $(READ_BENCH_ARGS)

# 20M and 100M posts (SCALE_BENCH_ARGS="--posts 1000000000" for a billion: 24 GB of Parquet
# under ~/.cache/socialkpi-bench)
bench-scale: build
	$(PYTHON) bench/scale.py $(SCALE_BENCH_ARGS)

clean:
	rm -rf $(WHEEL_DIR) .pytest_cache .hypothesis site

# Fuzzes the formula parser and checker, the definition-file reader, the export value parser
# and the header mapping (nightly + cargo-fuzz, installed when missing), FUZZ_SECONDS each.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= formula definitions values headers
fuzz:
	rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
	cargo +nightly fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/corpus/$$t && \
	  (cd fuzz && CARGO_TARGET_DIR=$(CARGO_TARGET_DIR)-fuzz cargo +nightly fuzz run $$t corpus/$$t seeds/$$t -- -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -rss_limit_mb=2048) || exit 1; \
	done
