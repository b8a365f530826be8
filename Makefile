# The two set-up commands: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export YEKUO_DATABASE_URL ?= sqlite:///instance/yekuo.db

.PHONY: run test lint install init deploy serve bench clean

MO     := api/web/translations/zh_Hans_CN/LC_MESSAGES/messages.mo

install: $(STAMP) node_modules/.package-lock.json $(MO)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# browser libraries for the pages (bpmn-js, json-editor), served from node_modules (docs/architecture.md, "Pages")
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# the pages' Chinese catalog: the .po is the source, the .mo is built here
$(MO): api/web/translations/zh_Hans_CN/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile -d api/web/translations >/dev/null

init: install
	$(BIN)/yekuo init --demo

deploy: init
	@if ls bpmn/*.bpmn >/dev/null 2>&1; then \
	  $(BIN)/yekuo deploy bpmn/ --note "bundled process" --by make; \
	else echo "no models in bpmn/ to deploy"; fi

# a fresh database gets a month of demonstration cases of every type (`yekuo demo cases`); one with cases is left alone
run: deploy
	YEKUO_CALENDAR_FALLBACK=$${YEKUO_CALENDAR_FALLBACK:-1} $(BIN)/yekuo demo cases --if-empty
	YEKUO_DEMO=1 YEKUO_CALENDAR_FALLBACK=$${YEKUO_CALENDAR_FALLBACK:-1} $(BIN)/yekuo serve --host 127.0.0.1 --port 8000

# the suite in parallel processes (one per core, at most 4: each holds its own databases and browser)
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -gt 4 ] && n=4; echo $$n)

test: install lint
	$(BIN)/pytest -q -n $(TEST_WORKERS)

# the import contract in pyproject.toml: engine never imports api or Flask; engine packages in layers
lint: install
	$(BIN)/lint-imports --no-cache

bench: install
	$(BIN)/python bench/engine_overhead.py

clean:
	rm -rf $(VENV) instance .pytest_cache
