"""The contract suite: one set of behaviour tests run against every I/O layer (see docs/testing.md)."""
