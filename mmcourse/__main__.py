"""``python -m mmcourse``: the same command line as the ``mmcourse`` script."""
import sys

from .cli import main

sys.exit(main())
