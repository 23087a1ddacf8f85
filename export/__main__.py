"""`python -m voxserve.export`."""

import sys

from voxserve.export.cli import main

sys.exit(main())
