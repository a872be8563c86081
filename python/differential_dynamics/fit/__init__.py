"""Parameter recovery."""
