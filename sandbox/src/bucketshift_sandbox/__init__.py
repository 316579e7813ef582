"""Local stand-ins for the servers bucketshift talks to, run by tests, benchmarks and the demo."""
