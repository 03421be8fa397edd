# Two commands on a fresh machine: `make demo` and `make test`. Both set up what they need.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_VERSION := 2.13.0
VERL_VERSION := 0.9.1
PYTEST_WORKERS ?= 2

.PHONY: demo test bench system-deps clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version' 
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: the local CPU wheel, not an unpinned multi-GB CUDA build
	$(BIN)/python -m pip install --quiet torch==$(TORCH_VERSION)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	# verl without its deps: they pin transformers<5.11 (and torch 2.11 in its GPU extras); the
	# modules the integration imports need only what the dev extra lists
	$(BIN)/python -m pip install --quiet --no-deps "verl==$(VERL_VERSION)"
	touch $(STAMP)

# tesseract for the OCR tool, chromium for the report.html browser test: installed through apt when
# missing; a warning (not a failure) where apt is unavailable
system-deps:
	@command -v tesseract >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr >/dev/null) \
	      || echo "warning: could not install tesseract-ocr; OCR will report how to install it"; \
	  else echo "warning: tesseract is missing; install it with: sudo apt-get install tesseract-ocr"; fi; }
	@command -v chromium >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; the report.html browser test will be skipped"; \
	  else echo "warning: chromium is missing (the report.html browser test is skipped); install it with: sudo apt-get install chromium"; fi; }

demo: $(STAMP) system-deps
	$(BIN)/mmsearch-gym list
	$(BIN)/mmsearch-gym play mmsearch_gym/DeepSearch-v0 --policy oracle --policy no_vision --policy single_search --policy random --episodes 20 --seed 0
	$(BIN)/mmsearch-gym play mmsearch_gym/Maze-v0 --policy oracle --policy random --episodes 50 --seed 0
	$(BIN)/mmsearch-gym play mmsearch_gym/GroundedGen-v0 --policy oracle --policy no_search --policy wrong_reference --policy random --episodes 20 --seed 0
	$(BIN)/mmsearch-gym play mmsearch_gym/MazeGrid-v0 --policy oracle --policy random --episodes 20 --seed 0

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS)

bench: $(STAMP)
	$(BIN)/python benchmarks/env_step.py
	$(BIN)/python benchmarks/vision_tools.py --quick
	$(BIN)/python benchmarks/search.py --quick
	$(BIN)/python benchmarks/image_search.py --quick
	$(BIN)/python benchmarks/ocr_psm.py --quick
	$(BIN)/python benchmarks/deep_search.py --quick
	$(BIN)/python benchmarks/grounded_gen.py --quick
	$(BIN)/python benchmarks/algos.py --quick
	$(BIN)/python benchmarks/kernels.py --quick
	$(BIN)/python benchmarks/ray_pool.py --quick
	$(BIN)/python benchmarks/eval.py --quick
	$(BIN)/python benchmarks/answer_spray.py --quick
	$(BIN)/python benchmarks/fuzz.py --quick

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
