"""Activation statistics: batching prompts, reducing inside the trace, and tallying."""
