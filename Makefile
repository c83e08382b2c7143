# Two commands for a fresh machine (see README):
#   make run    set up, train if needed, seed the demo data, start everything
#   make test   set up, train if needed, run the whole test suite
# Both are idempotent.

VENV := .venv
PY := $(VENV)/bin/python
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: run test setup model seed validate evaluate review gate lint lock clean gateway bench bench-nlu

run: setup model seed
	$(PY) -m bot.run

test: setup model
	@scripts/test-services
	$(PY) -m pytest $(PYTEST_ARGS)

setup:
	@scripts/setup

model: setup
	@$(PY) -m bot.model

# The airline's flights and bookings, and a demo month of conversations for the
# dashboard (marked as demo, never mixed with real ones: docs/analytics.md).
seed: setup
	@$(PY) -m actions.airline.seed
	@$(PY) -m bot.analytics demo

validate: setup
	$(VENV)/bin/rasa data validate

# Per-intent precision/recall/F1, confusion matrix and the fallback threshold
# analysis on the held-out test set, in results/nlu/ (see docs/nlu.md).
evaluate: model
	$(PY) -m bot.evaluation

# The trainers' review inbox as a local page (http://127.0.0.1:8300/); the
# same from a terminal: .venv/bin/python -m bot.review --help (docs/review.md).
review: setup
	$(PY) -m bot.review collect
	$(PY) -m bot.review serve

# Trains a candidate on the changed data and compares it with the current
# model on the held-out test set; report in results/gate/, verdict as exit code.
gate: setup
	@test -f models/northwind.tar.gz || { echo "gate: no current model; run 'make model' before changing the data"; exit 4; }
	$(PY) -m bot.review gate

# The gateway alone (make run starts it with everything else).
gateway: setup
	$(PY) -m bot.gateway

# End-to-end latency through the gateway vs. a bare Rasa turn (docs/gateway.md).
bench: model
	$(PY) -m benchmarks.gateway_latency

# Public intent benchmarks (Banking77, CLINC150 from ../shared/benchmarks);
# about two hours on 2 cores with the MPNet encoder (docs/benchmarks.md). BENCH_NLU_ARGS=--help for options.
bench-nlu: setup
	$(PY) -m benchmarks.nlu $(BENCH_NLU_ARGS)

lint: setup
	$(VENV)/bin/ruff check bot in_rasa actions tests
	$(VENV)/bin/ruff format --check bot in_rasa actions tests
	$(VENV)/bin/mypy bot in_rasa actions

lock:
	scripts/lock

clean:
	rm -rf models results var .rasa
