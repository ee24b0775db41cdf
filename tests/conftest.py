"""The fixtures every layer shares live in `tests/fixtures/`; what tests and benchmarks both use, in
`tests/harness/`."""

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.stripe",
    "tests.fixtures.engines",
    "tests.fixtures.browser",
    "tests.fixtures.openclaw",
]
