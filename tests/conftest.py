"""The fixtures every layer shares live in `tests/fixtures/`; what tests and benchmarks both use, in
`tests/harness/`. Each layer groups its tests by the package of `yourclaw` they test; test modules never import
one another (what two of them share goes in `tests/harness/` or `tests/fixtures/`)."""

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.stripe",
    "tests.fixtures.engines",
    "tests.fixtures.browser",
    "tests.fixtures.openclaw",
    "tests.fixtures.llm_proxy",
    "tests.fixtures.log_scan",
    "tests.fixtures.s3",
]
