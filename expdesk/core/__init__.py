"""Entities, errors and paths shared by every layer. Standard library (and numpy arrays) only."""
