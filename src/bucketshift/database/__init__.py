"""The application's Postgres: find stored storage URLs, rewrite them in journaled batches, revert exactly."""
