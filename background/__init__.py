"""background package."""
