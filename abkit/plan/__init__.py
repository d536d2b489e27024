"""What an experiment declares before its data are seen: the plan and its metrics.

May import: core, stats.
"""
