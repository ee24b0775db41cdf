"""Operating the fleet as a whole: rolling a new assistant image out in waves (`rollout`), and moving the
assistants off a host or rebalancing it (`evacuation`)."""
