"""Serving an experiment: sticky routing, the serving wrapper, the event schema and the event store
that loses nothing.

May import: core, stats, plan.
"""
