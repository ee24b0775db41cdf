"""The metering LLM proxy, the models and prices it knows, and the user's own key."""
