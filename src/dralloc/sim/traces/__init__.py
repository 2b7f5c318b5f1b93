"""Trace loaders."""
