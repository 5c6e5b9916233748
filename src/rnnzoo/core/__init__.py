"""Infrastructure: the cell protocol, the runner, layers, the registry."""
