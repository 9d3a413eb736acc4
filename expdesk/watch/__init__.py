"""Live updates: watchdog observers route filesystem events to run keys; reconcile catches what they miss."""
