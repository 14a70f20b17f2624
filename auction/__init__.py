"""auction package."""
