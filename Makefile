# make demo | make test | make lint | make validate | make package | make deploy | make emulator | make bench | make bench-list
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REGION := us-east-1
export AWS_DEFAULT_REGION := $(REGION)

.PHONY: demo test lint package validate deploy emulator bench bench-list clean

$(BIN)/.installed: requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $@

.venv-checkov/bin/.installed: requirements-checkov.txt
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

demo: $(BIN)/.installed
	$(BIN)/python -m tools.demo

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q -n 2 --dist worksteal

# Scanners: every one must pass. cfn-lint fails on warnings too; checkov findings are fixed or suppressed on the
# resource with a written reason (template.yaml Metadata).
lint: $(BIN)/.installed .venv-checkov/bin/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	# The handlers for the Lambda runtime (template.yaml: python3.14), one by one (each is an app.py); the rest for the
	# lowest Python the command line supports (pyproject.toml: requires-python, tool.mypy).
	for f in functions/*/app.py; do $(BIN)/mypy --python-version 3.14 --cache-dir .mypy_cache/lambda $$f || exit 1; done
	$(BIN)/mypy glacier_ami_restore emulator tools deploy tests
	$(BIN)/cfn-lint template.yaml
	$(BIN)/python -m deploy.package template.yaml > .venv/packaged.yaml && $(BIN)/cfn-lint .venv/packaged.yaml
	$(BIN)/statelint --ignore=URI statemachine/definition.asl.json
	$(BIN)/statelint --ignore=URI statemachine/batch.asl.json
	$(BIN)/statelint --ignore=URI statemachine/archive.asl.json
	$(BIN)/statelint --ignore=URI statemachine/drill.asl.json
	SAM_CLI_TELEMETRY=0 HOME=$(CURDIR)/$(VENV) $(BIN)/sam validate --lint --region $(REGION)
	.venv-checkov/bin/checkov -f template.yaml --framework cloudformation --skip-download --compact --quiet

validate: $(BIN)/.installed
	SAM_CLI_TELEMETRY=0 $(BIN)/sam validate --lint --region $(REGION)

package: $(BIN)/.installed
	$(BIN)/python -m deploy.package template.yaml > packaged.yaml
	@echo "wrote packaged.yaml ($$(wc -c < packaged.yaml) bytes, all code inline; over 51,200 bytes, so it deploys through S3): sam deploy --template-file packaged.yaml --guided"

# The SAM CLI the set-up installed (not one on PATH): build, then deploy to the account of the current credentials,
# asking for the parameters (samconfig.toml keeps the answers).
deploy: $(BIN)/.installed
	SAM_CLI_TELEMETRY=0 $(BIN)/sam build && SAM_CLI_TELEMETRY=0 $(BIN)/sam deploy --guided

emulator: $(BIN)/.installed
	$(BIN)/python -m tools.server --port $(or $(PORT),4599)

bench: $(BIN)/.installed
	$(BIN)/python -m tools.bench
	$(BIN)/python -m tools.bench_batch
	$(BIN)/python -m tools.bench_archive

bench-list: $(BIN)/.installed
	$(BIN)/python -m tools.bench_list

clean:
	rm -rf $(VENV) .venv-checkov packaged.yaml .pytest_cache results
