"""Phases of `bench/llm_proxy.py` beyond the latency one."""
