"""PyInstaller entry script: the frozen `expdesk` executable is the `expdesk` console script."""

import sys

from expdesk.cli import main

if __name__ == "__main__":
    sys.exit(main())
