"""``python -m benchmarks [--smoke|--quick|--full] [--only REGEX] [--allow-pure-python] [--publish]``: see runner.py.

Refuses (one line, exit 2) to time wsframe without its C extension unless
``--allow-pure-python`` is given. Writes benchmarks/results/; the committed
benchmarks/latest/ is replaced only with ``--publish`` on a complete run.
"""

import sys

from .runner import main

sys.exit(main())
