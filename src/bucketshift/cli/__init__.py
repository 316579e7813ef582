"""The command line: parse arguments, call one operation, render its result."""
