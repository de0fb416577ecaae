"""wsframe's benchmark suite: codec micro benchmarks against peer libraries.

``python -m benchmarks`` runs the comparison (see benchmarks/README.md);
``python -m pytest benchmarks/ --benchmark-only`` runs the same cases under
pytest-benchmark.
"""
