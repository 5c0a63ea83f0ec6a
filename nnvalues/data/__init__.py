"""Prompt data: the record schema, the shipped data set and how its records are paired."""
