"""What the tests and the benchmarks share: settings for a test, waiting on a condition, the app on a real
port, rows made directly, the tests' Docker engines and images, `yourclaw dev` in a child process, and the
end-to-end stack with the real OpenClaw image."""
