"""``python -m mmcourse``: the same command line as the ``mmcourse`` script."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
