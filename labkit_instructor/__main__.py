"""``python -m labkit_instructor`` runs the ``labkit`` command without importing ``labkit``."""

import sys

from labkit_instructor.cli import main

sys.exit(main())
