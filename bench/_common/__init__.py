"""What the benchmarks share: percentiles, the CPU meter, the processes they start and stop by pid, the
printing helpers, the environment of the product's subprocesses and one-off SQL."""
