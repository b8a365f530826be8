# The two set-up commands: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export YEKUO_DATABASE_URL ?= sqlite:///instance/yekuo.db

.PHONY: run test install init deploy serve bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

init: install
	$(BIN)/yekuo init --demo

deploy: init
	@if ls bpmn/*.bpmn >/dev/null 2>&1; then \
	  $(BIN)/yekuo deploy bpmn/ --note "bundled process" --by make; \
	else echo "no models in bpmn/ to deploy"; fi

run: deploy
	$(BIN)/yekuo serve --host 127.0.0.1 --port 8000

test: install
	$(BIN)/pytest -q

bench: install
	$(BIN)/python bench/engine_overhead.py

clean:
	rm -rf $(VENV) instance .pytest_cache
