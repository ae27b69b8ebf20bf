{#- Fails (returns one row) when the model or source has no rows. -#}
{% test not_empty(model) %}

select 'empty' as problem
from (select count(*) as row_count from {{ model }}) as counted
where counted.row_count = 0

{% endtest %}
