"""The parts of bench/reconcile.py: the benchmark's own Docker engines and their clean-up, the lab they make
up, the docker-py baseline, the instruments around the reconciler, the watch on the assistants rows, the
control plane, its three measured phases, and the report. Imported by the entry script, which puts the
project root on sys.path first (for `tests.harness`)."""
