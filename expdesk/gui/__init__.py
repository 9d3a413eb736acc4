"""Every Qt class of expdesk lives in this package (and only here)."""
