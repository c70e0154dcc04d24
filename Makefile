# Two commands for a fresh machine (Rust, Python 3, make, bash):
#   make reproduce   the main job
#   make test        every test
# Both bootstrap what is missing first (scripts/setup.sh, scripts/setup-kernel.sh)
# and skip the rest.
# `cargo test`, `cargo run` and the notebook kernel share one build of the
# dependencies (.cargo/config.toml says how).

CARGO ?= cargo
ARGS ?=
# Links through mold when setup could install it (expanded after setup ran).
LINK = $(if $(shell command -v mold 2>/dev/null),mold -run,)

.PHONY: setup reproduce test docs notebooks notebooks-html bench bench-deps lab

setup:
	@bash scripts/setup.sh

reproduce: setup
	$(LINK) $(CARGO) run -- reproduce $(ARGS)

# Every check, each step timed (scripts/test.sh says which). The real-data
# tests are #[ignore = "needs CALTECH101_DIR"]: they and the notebooks run
# when the dataset is named.
test:
	@bash scripts/test.sh

# README.md's headline block and docs/results.md, generated from the
# published docs/results/<profile>/ (tests/pages.rs fails when they drift).
docs:
	$(LINK) $(CARGO) run --quiet -- pages

# Executes notebooks 01-06 headless (smoke profile) into notebooks/executed/.
notebooks: setup
	.venv/bin/python scripts/run_notebooks.py

# The notebooks as web pages, readable without running them: executed
# headless at the quick profile (or CALTECH_ANOMALY_PROFILE=full) on the study
# folder runs/study-<profile>, then rendered as docs/notebooks/*.html (at full:
# docs/notebooks/full/). Trains every model the notebooks use that the study
# folder lacks: link a reproduce run's runs/ there first to reuse them
# (cp -al runs/reproduce-quick/runs runs/study-quick/).
notebooks-html: setup
	profile=$${CALTECH_ANOMALY_PROFILE:-quick}; \
	pages=docs/notebooks; [ "$$profile" = quick ] || pages=docs/notebooks/$$profile; \
	CALTECH_ANOMALY_PROFILE=$$profile CALTECH_ANOMALY_OUT=$(CURDIR)/runs/study-$$profile \
	  .venv/bin/python scripts/run_notebooks.py --out notebooks/executed/$$profile --html $$pages

bench-deps: setup
	.venv/bin/python -m pip install --disable-pip-version-check -q -r bench/requirements.txt

bench: bench-deps
	$(CARGO) run -- bench prepare
	$(CARGO) run -- bench train
	$(CARGO) run -- bench features

lab: setup
	bash scripts/lab.sh
