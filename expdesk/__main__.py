"""`python -m expdesk` behaves exactly like the `expdesk` console script."""

import sys

from expdesk.cli import main

sys.exit(main())
