"""Sample size, power and MDE for a plan's decision family (:mod:`.sample_size`), and the
planning of several metrics, curves and CUPED gains on top of it (:mod:`.planning`).

May import: core, stats, plan, serve, analysis (a pre-period log's CUPED estimate).
"""
