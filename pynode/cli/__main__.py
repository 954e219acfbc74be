"""`python -m pynode.cli …` is `hyperspace …`."""

import sys

from pynode.cli import main

sys.exit(main())
