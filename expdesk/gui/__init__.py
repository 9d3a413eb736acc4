"""Every Qt class of expdesk lives in this package (the only place that imports PySide6)."""
