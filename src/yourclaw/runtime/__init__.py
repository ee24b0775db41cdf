"""The assistants' containers: Docker hosts over mutual TLS, the container spec and config, the planner and
the reconciler that converges the hosts toward the `assistants` rows."""
