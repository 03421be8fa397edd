"""One module per environment."""
