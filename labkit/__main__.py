"""``python -m labkit`` runs the ``labkit`` command (defined in ``labkit_instructor.cli``)."""

import sys

from labkit_instructor.cli import main

sys.exit(main())
