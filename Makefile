# The two commands of the README:
#   make app    start the dashboard on the shipped default model
#   make test   run the whole test suite
# Both create or refresh the virtual environment .venv first: the project installed in editable
# mode with its test extra (pyproject.toml; dependencies from requirements*.txt).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: app test venv bench clean

$(STAMP): pyproject.toml requirements.txt requirements-test.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

app: $(STAMP)
	$(PY) -m streamlit run app.py

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do $(PY) -m benchmarks.$$(basename $$f .py) || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info
