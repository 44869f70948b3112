"""Coverage-guided fuzzing (atheris) of every parser that reads what a peer or an operator
sends: `targets.py` holds the targets, `run.py` runs one. `make test` replays the kept
inputs under tests/data/fuzz/ without atheris (tests/fuzz/)."""
