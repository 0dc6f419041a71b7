"""``python -m facepoints`` runs the CLI."""

import sys

from facepoints.cli.main import main

sys.exit(main())
