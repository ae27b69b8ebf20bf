"""A stand-in for dbt's ``adapter`` used only by sqlfluff's jinja templater.

``adapter.dispatch(name, namespace)`` returns a function rendering DuckDB-like
SQL of the same shape as the project's dispatched macros.
"""

_RENDERERS = {
    "mask_email": lambda column: f"case when {column} is null then null else lower({column}) end",
    "hours_between": lambda start, end: f"(epoch({end}) - epoch({start})) / 3600.0",
}


def dispatch(macro_name, macro_namespace=None):
    return _RENDERERS.get(macro_name, lambda *args, **kwargs: "null")
