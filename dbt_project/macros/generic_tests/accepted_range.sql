{#- Rows whose column falls outside [min_value, max_value] (nulls pass). -#}
{% test accepted_range(model, column_name, min_value=none, max_value=none,
    inclusive=true) %}

select {{ column_name }} as out_of_range_value
from {{ model }}
where
    {{ column_name }} is not null
    and not (
        {{ accepted_range_condition(
            column_name, min_value, max_value, inclusive
        ) }}
    )

{% endtest %}

{% macro accepted_range_condition(column_name, min_value, max_value,
    inclusive) -%}
    {%- set low = ">=" if inclusive else ">" -%}
    {%- set high = "<=" if inclusive else "<" -%}
    {%- set checks = [] -%}
    {%- if min_value is not none -%}
        {%- do checks.append(column_name ~ " " ~ low ~ " " ~ min_value) -%}
    {%- endif -%}
    {%- if max_value is not none -%}
        {%- do checks.append(column_name ~ " " ~ high ~ " " ~ max_value) -%}
    {%- endif -%}
    {{ checks | join(" and ") if checks else "1 = 1" }}
{%- endmacro %}
