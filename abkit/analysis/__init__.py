"""From a dialog log to a decision: the one log reader (DuckDB, Spark), the engine and its health
gates, metric kinds, CUPED covariates, monitoring, the results.

May import: core, stats, plan, serve.
"""
