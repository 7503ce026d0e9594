"""Merging an adapter into a 16-bit base, and the check that the merged model answers like the adapter."""

from sqltune.merge.merge import *  # noqa: F401,F403
