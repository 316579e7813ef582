"""One module per verb; each is a library function that returns a result and never prints."""
