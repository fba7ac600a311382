# make demo | make test | make validate | make package | make emulator | make bench
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REGION := us-east-1
export AWS_DEFAULT_REGION := $(REGION)

.PHONY: demo test package validate emulator bench clean

$(BIN)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

demo: $(BIN)/.installed
	$(BIN)/python -m emulator.demo

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q -n 2

validate: $(BIN)/.installed
	SAM_CLI_TELEMETRY=0 $(BIN)/sam validate --lint --region $(REGION)

package: $(BIN)/.installed
	$(BIN)/python -m emulator.package template.yaml > packaged.yaml
	@echo "wrote packaged.yaml (all code inline): sam deploy --template-file packaged.yaml --guided"

emulator: $(BIN)/.installed
	$(BIN)/python -m emulator.server --port $(or $(PORT),4599)

bench: $(BIN)/.installed
	$(BIN)/python -m emulator.bench

clean:
	rm -rf $(VENV) packaged.yaml .pytest_cache results
