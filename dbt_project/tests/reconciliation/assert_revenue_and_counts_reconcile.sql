{#- Location revenue = vehicle-type revenue = user spending = overall revenue
    = rentals-fact revenue, and the same for rental counts. Returns one row per
    disagreeing output. Its only parent is int_output_totals_reconciled, which
    every mart depends on: a failure here makes dbt build skip all marts, so
    they keep their last good version. -#}
{{ config(tags=['reconciliation']) }}

with

totals as (
    select * from {{ ref('int_output_totals_reconciled') }}
),

final as (
    select
        output_name,
        total_revenue,
        fact_total_revenue,
        total_rentals,
        fact_total_rentals
    from totals
    where
        coalesce(total_revenue, -1) != coalesce(fact_total_revenue, -1)
        or coalesce(total_rentals, -1) != coalesce(fact_total_rentals, -1)
)

select * from final
