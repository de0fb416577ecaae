"""``python -m benchmarks [--smoke|--quick|--full] [--only REGEX]``: see runner.py."""

import sys

from .runner import main

sys.exit(main())
