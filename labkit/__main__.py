"""``python -m labkit`` runs the ``labkit`` command."""

import sys

from labkit.cli import main

sys.exit(main())
