# Two commands for a fresh machine (see README):
#   make run    set up, train if needed, seed the demo data, start everything
#   make test   set up, train if needed, run the whole test suite
# Both are idempotent.

VENV := .venv
PY := $(VENV)/bin/python
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: run test setup model seed validate evaluate lint lock clean gateway bench

run: setup model seed
	$(PY) -m bot.run

test: setup model
	@scripts/test-services
	$(PY) -m pytest $(PYTEST_ARGS)

setup:
	@scripts/setup

model: setup
	@$(PY) -m bot.model

seed: setup
	@$(PY) -m actions.airline.seed

validate: setup
	$(VENV)/bin/rasa data validate

# Per-intent precision/recall/F1, confusion matrix and the fallback threshold
# analysis on the held-out test set, in results/nlu/ (see docs/nlu.md).
evaluate: model
	$(PY) -m bot.evaluation

# The gateway alone (make run starts it with everything else).
gateway: setup
	$(PY) -m bot.gateway

# End-to-end latency through the gateway vs. a bare Rasa turn (docs/gateway.md).
bench: model
	$(PY) -m benchmarks.gateway_latency

lint: setup
	$(VENV)/bin/ruff check bot actions tests
	$(VENV)/bin/ruff format --check bot actions tests
	$(VENV)/bin/mypy bot actions

lock:
	scripts/lock

clean:
	rm -rf models results var .rasa
