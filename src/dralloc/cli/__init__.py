"""The dralloc command line."""
