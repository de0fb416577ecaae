"""``python -m benchmarks [--smoke|--quick|--full] [--only REGEX] [--allow-pure-python]``: see runner.py.

Refuses (one line, exit 2) to time wsframe without its C extension unless
``--allow-pure-python`` is given.
"""

import sys

from .runner import main

sys.exit(main())
