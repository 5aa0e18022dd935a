# The two commands of the README:  `make demo`  and  `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
RAG    := $(VENV)/bin/rag
HOST   ?= 127.0.0.1
PORT   ?= 7860

.PHONY: setup demo index test eval browser clean-index

# Creates or reuses .venv; torch first, pinned to the local CPU build, so nothing pulls a CUDA build.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[test]'
	touch $@

setup: $(VENV)/.installed

# Index the corpus (if needed) and serve the web chat on the offline default embedder.
demo: setup
	$(RAG) serve --host $(HOST) --port $(PORT)

index: setup
	$(RAG) index

eval: setup
	$(RAG) eval ../shared/eval/dev.jsonl

# Debian's Chromium for the browser tests (never a downloaded browser build).
browser:
	bash .ci/install-browser

test: setup browser
	$(VENV)/bin/ruff check rag ui tests benchmarks
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

clean-index:
	rm -rf index/build-* index/CURRENT
