"""Every Qt class of expdesk lives in this package (the only place that imports PySide6)."""

from expdesk.gui._compat import protect_none_refcount

protect_none_refcount()
