"""Shared by the benchmark server scripts: command line and file-descriptor limit."""

import resource
import sys


def parse_args(name: str):
    """``script.py PORT [HOST]`` -> (host, port). Raises RLIMIT_NOFILE to the hard limit."""
    if len(sys.argv) < 2:
        sys.exit(f"usage: {name} PORT [HOST]")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    port = int(sys.argv[1])
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    return host, port
