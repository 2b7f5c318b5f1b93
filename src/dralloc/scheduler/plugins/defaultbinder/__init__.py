"""The `DefaultBinder` plugin: binds a pod through a callable the scheduler supplies."""

from dralloc.scheduler.plugins.defaultbinder.plugin import NAME, Binder, DefaultBinder

__all__ = ["NAME", "Binder", "DefaultBinder"]
