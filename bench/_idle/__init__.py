"""bench/idle_cost.py: what an idle assistant costs, before and after."""
