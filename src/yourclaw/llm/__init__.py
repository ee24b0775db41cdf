"""The metering LLM proxy and the models and prices it knows."""
