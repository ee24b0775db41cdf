"""What the tests and the benchmarks share: settings for a test, waiting on a condition, the app on a real
port, rows made directly, the tests' Docker engines and images, `yourclaw dev` in a child process, and the
end-to-end stack with the real OpenClaw image. And what several test modules share: the app's lifespan in the
test's loop, the assistant protocol from an assistant's side, inbound messages as the webhook leaves them, a
browser session."""
