"""Turning records into the exact token ids a model receives."""
