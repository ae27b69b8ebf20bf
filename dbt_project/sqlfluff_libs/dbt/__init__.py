"""Stand-ins for dbt's cross-database macros, used only by sqlfluff's jinja templater.

They render plausible DuckDB SQL so the linter can parse models that call
``dbt.type_string()``, ``dbt.date_trunc(...)`` and ``dbt.datediff(...)``.
"""


def type_string():
    return "varchar"


def date_trunc(datepart, date):
    return f"date_trunc('{datepart}', {date})"


def datediff(first_date, second_date, datepart):
    return f"date_diff('{datepart}', {first_date}, {second_date})"
