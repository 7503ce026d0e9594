"""What every stage shares: the error tree, config loading, cache paths and the run registry."""
