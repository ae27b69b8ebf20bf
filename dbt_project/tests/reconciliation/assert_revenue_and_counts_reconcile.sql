{#- Location revenue = vehicle-type revenue = user spending = overall revenue
    = rentals-fact revenue, and the same for rental counts; the user summary's
    and the overall statistics' distinct users, and the overall distinct
    vehicles and average rental value (within 0.0001), equal the fact's. A
    missing (null) value on either side is a disagreement. Returns one row per
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
        fact_total_rentals,
        unique_users,
        fact_unique_users,
        unique_vehicles_rented,
        fact_unique_vehicles_rented,
        avg_rental_value,
        fact_avg_rental_value
    from totals
    where
        total_revenue is distinct from fact_total_revenue
        or total_rentals is distinct from fact_total_rentals
        or (
            output_name in (
                'user_transaction_summary', 'overall_transaction_statistics'
            )
            and unique_users is distinct from fact_unique_users
        )
        or (
            output_name = 'overall_transaction_statistics'
            and (
                unique_vehicles_rented
                is distinct from fact_unique_vehicles_rented
                or avg_rental_value is null
                or fact_avg_rental_value is null
                or abs(avg_rental_value - fact_avg_rental_value) > 0.0001
            )
        )
)

select * from final
