"""Local stand-ins for the systems bucketshift talks to: used by the tests and by `demo`."""
