"""`make bench`: the project's jobs against a seed-style baseline and a DuckDB SQL reference.

Run ``python -m bench --help``. Results go to ``bench/results/`` (git-ignored).
"""
