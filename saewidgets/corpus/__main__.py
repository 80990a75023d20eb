"""``python -m saewidgets.corpus build|info|sample`` (see :mod:`saewidgets.corpus.cli`)."""

import sys

from .cli import main

sys.exit(main())
