"""WALL-WM world action model: contracts, model, sampling, checkpoints. Never imports `agent`."""
