# Set-up and everyday commands. Only Python 3.11+ is needed on the machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench soak fuzz clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "eswifi needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/eswifi demo

test: $(STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .
	$(BIN)/python -m mypy

bench: $(STAMP)
	$(BIN)/eswifi bench

# A minute of churn, resets, floods and storms against a real emulator; fds and memory
# must stay flat. Longer: SOAK_SECONDS=600 make soak
SOAK_SECONDS ?= 60
soak: $(STAMP)
	$(BIN)/eswifi soak --seconds $(SOAK_SECONDS)

# The engine's fuzz contract at full length: 1.2 M host streams plus 20,000 socket
# lifecycle programs (an hour or more). The normal suite runs a few hundred of each.
fuzz: $(STAMP)
	ESWIFI_FUZZ_LONG=1 $(BIN)/python -m pytest tests/test_fuzz_engine.py tests/test_fuzz_lifecycle.py -q

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache .mypy_cache
