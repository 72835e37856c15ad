# opml — two commands set up everything on a fresh machine: `make test` and `make demo`.
# Every target bootstraps what it needs; a second run installs nothing.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP_PY   := $(VENV)/.installed
STAMP_NODE := node_modules/.installed
STAMP_SYS  := .cache/sysdeps.ok

.PHONY: bootstrap sysdeps pydeps nodedeps contracts kernels test test-fast bench demo clean

bootstrap: sysdeps pydeps nodedeps contracts

# Debian packages: the MIPS cross compiler (kernels), mosquitto (integration tests), docker-compose (the
# compose file's validation test), chromium + chromium-driver (the explorer's browser test) and prometheus (the
# dashboard test).
# Installed only where missing and only where apt is usable; otherwise a clear note.
sysdeps: $(STAMP_SYS)
$(STAMP_SYS):
	@mkdir -p .cache
	@if command -v mipsel-linux-gnu-gcc >/dev/null && { command -v mosquitto >/dev/null || test -x /usr/sbin/mosquitto; } && command -v docker-compose >/dev/null \
		&& command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v prometheus >/dev/null; then \
		echo "sysdeps: present"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-mipsel-linux-gnu mosquitto docker-compose chromium chromium-driver \
			prometheus >/dev/null; \
	else \
		echo "sysdeps: cannot install gcc-mipsel-linux-gnu/mosquitto/docker-compose/chromium/chromium-driver/prometheus here (need root + apt); the tests that need them will say so"; \
	fi
	@if command -v mipsel-linux-gnu-gcc >/dev/null && command -v docker-compose >/dev/null && command -v chromium >/dev/null \
		&& command -v prometheus >/dev/null; then touch $@; fi

pydeps: $(STAMP_PY)
$(STAMP_PY): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -e '.[dev]'
	@touch $@

nodedeps: $(STAMP_NODE)
$(STAMP_NODE): package.json package-lock.json
	npm install --no-audit --no-fund --loglevel=error
	@touch $@

contracts: pydeps nodedeps
	$(PY) -m opml.chain.build

kernels: bootstrap
	$(PY) -m opml.kernels.build

test: bootstrap
	$(PY) -m pytest -q -n 2 --dist loadfile

test-fast: bootstrap
	$(PY) -m pytest -q -n 2 --dist loadfile tests/unit

bench: bootstrap
	$(PY) -m bench

# `make demo EXPLORE=1`: the explorer (its URL is printed) and the devnet stay up after the story, until Ctrl-C.
# `make demo LLM=1`: the same network on the LLM stack (`opml demo --llm`: the Moby-Dick llama continues stories).
demo: bootstrap
	$(VENV)/bin/opml demo $(if $(LLM),--llm) $(if $(EXPLORE),--explore)

clean:
	rm -rf contracts/out .pytest_cache .cache
