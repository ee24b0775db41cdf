"""Operating the fleet as a whole: rolling a new assistant image out in waves (`rollout`)."""
