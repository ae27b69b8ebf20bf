{#- Share of a total as a double; null when the denominator is 0. Trino keeps
    decimal division in decimal, so both sides are cast first. -#}
{% macro safe_divide(numerator, denominator) -%}
    cast({{ numerator }} as double)
    / nullif(cast({{ denominator }} as double), 0)
{%- endmacro %}

{#- Money as the contract's decimal(18,2). -#}
{% macro to_money(expression) -%}
    cast({{ expression }} as decimal(18, 2))
{%- endmacro %}

{#- Hours between two timestamps, as a double, with second precision. -#}
{% macro hours_between(start_ts, end_ts) -%}
    {{ return(
        adapter.dispatch('hours_between', 'carrental')(start_ts, end_ts)
    ) }}
{%- endmacro %}

{% macro default__hours_between(start_ts, end_ts) -%}
    cast({{ dbt.datediff(start_ts, end_ts, 'second') }} as double) / 3600.0
{%- endmacro %}

{% macro duckdb__hours_between(start_ts, end_ts) -%}
    (epoch({{ end_ts }}) - epoch({{ start_ts }})) / 3600.0
{%- endmacro %}

{% macro athena__hours_between(start_ts, end_ts) -%}
    cast(date_diff('second', {{ start_ts }}, {{ end_ts }}) as double) / 3600.0
{%- endmacro %}

{#- The mean of a double column, rounded to 9 decimals so that a re-run gives
    the same value: a parallel sum of doubles can differ in the last bit. -#}
{% macro stable_avg(expression, digits=9) -%}
    round(avg({{ expression }}), {{ digits }})
{%- endmacro %}
