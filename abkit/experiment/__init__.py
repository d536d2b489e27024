"""experiment.yaml, the one file of an experiment; the notebooks' settings; copies and runs of the
templates.

May import: every wing but cli.
"""
