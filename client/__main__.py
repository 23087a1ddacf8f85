"""`python -m voxserve.client`."""

import sys

from voxserve.client.cli import main

sys.exit(main())
