{#- Reconciliation: sum(column_name) of the model equals sum(compare_column)
    of compare_model, within `tolerance`. -#}
{% test equal_sum(model, column_name, compare_model, compare_column,
    tolerance=0) %}

with

left_side as (
    select sum({{ column_name }}) as total from {{ model }}
),

right_side as (
    select sum({{ compare_column }}) as total from {{ compare_model }}
)

select
    left_side.total as model_total,
    right_side.total as compare_total
from left_side
cross join right_side
where
    abs(
        coalesce(cast(left_side.total as double), 0)
        - coalesce(cast(right_side.total as double), 0)
    ) > {{ tolerance }}

{% endtest %}
