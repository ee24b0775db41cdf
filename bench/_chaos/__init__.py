"""The parts of bench/chaos.py that need more than the stand-in runtime: phase 3, one of two real Docker engines
stopped while the other keeps answering. Imported by the entry script, which puts the project root on sys.path
first (for `tests.harness`)."""
