# The two set-up commands of the README are `make demo` and `make test`; both install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export DARIJA_DATA_DIR ?= $(CURDIR)/data

.PHONY: install demo test dev validate bench lint

install: $(VENV)/.installed

# constraints/cpu.txt keeps the CPU wheel of torch: without it trl/peft pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml constraints/cpu.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints/cpu.txt -e '.[dev]'
	touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

# The whole asset graph on the embedded defaults, recorded in $(DAGSTER_HOME).
demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/darija-assets run-all

test: install
	$(BIN)/pytest

# The web UI on http://127.0.0.1:3000, over the same instance as `make demo`. Started in
# $(DAGSTER_HOME): from the repo root, dagster dev warns that ./dagster.yaml (the template
# copied there) is not its configuration. workspace.yaml's paths are relative to itself.
dev: install $(DAGSTER_HOME)/dagster.yaml
	cd $(DAGSTER_HOME) && $(CURDIR)/$(BIN)/dagster dev -w $(CURDIR)/workspace.yaml

validate: install
	$(BIN)/dagster definitions validate -w workspace.yaml

bench: install
	$(BIN)/python benchmarks/bench_text.py
	$(BIN)/python benchmarks/bench_llm.py
	$(BIN)/python benchmarks/bench_pairs.py
	$(BIN)/python benchmarks/bench_distill.py

lint: install
	$(BIN)/ruff check darija_assets darija_assets_tests benchmarks
	$(BIN)/ruff format --check darija_assets darija_assets_tests benchmarks
