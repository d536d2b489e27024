"""The kit's ground floor: where its folders are, how parameters are checked and numbers printed,
summary.json, DuckDB sessions in UTC.

May import: nothing of abkit.
"""
