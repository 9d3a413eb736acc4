"""The model bundle: deterministic BagIt + RO-Crate export, verification and safe opening."""
