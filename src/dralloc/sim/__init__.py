"""Trace-driven simulation: real cluster traces replayed through the scheduler and allocator.

Being built (scheduler and simulator issue). So far: trace loaders (`dralloc.sim.openb`) and
the FGD experiment's workload and fragmentation measures (`dralloc.sim.fgd`).
"""
