"""Filled in by the work on its issue."""
