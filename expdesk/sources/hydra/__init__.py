"""hydra."""
