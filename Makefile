# make demo | make test | make validate | make package | make emulator
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REGION := us-east-1
export AWS_DEFAULT_REGION := $(REGION)

.PHONY: demo test package validate emulator clean

$(BIN)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

demo: $(BIN)/.installed
	$(BIN)/python -m emulator.demo

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

validate: $(BIN)/.installed
	SAM_CLI_TELEMETRY=0 $(BIN)/sam validate --lint --region $(REGION)

package: $(BIN)/.installed
	$(BIN)/python -m emulator.package template.yaml > packaged.yaml
	@echo "wrote packaged.yaml (all code inline): sam deploy --template-file packaged.yaml --guided"

emulator: $(BIN)/.installed
	$(BIN)/python -m emulator.server --port $(or $(PORT),4599)

clean:
	rm -rf $(VENV) packaged.yaml .pytest_cache
