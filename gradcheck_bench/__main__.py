"""``python -m gradcheck_bench`` runs the CLI."""

import sys

from .cli import main

sys.exit(main())
