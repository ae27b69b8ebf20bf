{#- Masks the local part of an e-mail: first character, '***', then '@domain'.
    'Alice.Smith@Example.com' -> 'a***@example.com'; no '@' -> '***';
    null -> null. Engines differ in regex back-references (RE2 '\1' in
    DuckDB, Java '$1' in Athena/Trino), hence the dispatch. -#}
{% macro mask_email(column) -%}
    {{ return(adapter.dispatch('mask_email', 'carrental')(column)) }}
{%- endmacro %}

{% macro default__mask_email(column) -%}
    case
        when {{ column }} is null then null
        when strpos({{ column }}, '@') <= 1 then '***'
        else
            concat(
                lower(substr({{ column }}, 1, 1)),
                '***',
                lower(substr({{ column }}, strpos({{ column }}, '@')))
            )
    end
{%- endmacro %}

{% macro duckdb__mask_email(column) -%}
    case
        when {{ column }} is null then null
        when strpos({{ column }}, '@') <= 1 then '***'
        else regexp_replace(lower({{ column }}), '^(.)[^@]*@', '\1***@')
    end
{%- endmacro %}

{% macro athena__mask_email(column) -%}
    case
        when {{ column }} is null then null
        when strpos({{ column }}, '@') <= 1 then '***'
        else regexp_replace(lower({{ column }}), '^(.)[^@]*@', '$1***@')
    end
{%- endmacro %}
