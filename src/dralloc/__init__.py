"""dralloc: DRA allocation engine."""
