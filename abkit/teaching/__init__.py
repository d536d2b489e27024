"""The traffic simulator, the case study, calibration by simulation, the workshop.

May import: every wing below report, and report.
"""
