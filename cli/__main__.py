"""`python -m cli …` runs the same code as the `qabot` script."""

import sys

from .main import main

sys.exit(main())
