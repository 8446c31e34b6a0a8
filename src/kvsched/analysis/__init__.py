"""Aggregation of run results into tidy tables, and the figures drawn from them."""
