"""The training loop as a library: the Trainer, its checkpoint state, builders, precision, DDP."""
