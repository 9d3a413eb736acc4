"""Lineage: a graph of runs from tool-native links and content-hash joins of inputs and outputs."""
