"""One module per run format behind a registry (`registry.readers()`); pure readers, no index, no Qt."""
