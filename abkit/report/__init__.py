"""What people read: the decision memo and the figures.

May import: core, stats, plan, serve, analysis.
"""
