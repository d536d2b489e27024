"""Pure statistics on sufficient statistics and arrays: two-sample tests, the delta method,
corrections, sample-ratio checks, CUPED, prediction-powered inference, sequential
boundaries. Each is checked against an independent reference.

May import: core.
"""
