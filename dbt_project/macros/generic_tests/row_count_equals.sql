{#- Fails when the relation does not hold exactly `expected` rows. -#}
{% test row_count_equals(model, expected) %}

select counted.row_count
from (select count(*) as row_count from {{ model }}) as counted
where counted.row_count != {{ expected }}

{% endtest %}
