"""``python -m wstool``."""

import sys

from wstool.cli import main

sys.exit(main())
