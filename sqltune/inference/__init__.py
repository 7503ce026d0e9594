"""Loading a base model (with its adapters or merged) and generating SQL with it."""
