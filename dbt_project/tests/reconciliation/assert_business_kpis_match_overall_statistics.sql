{#- business_kpis (built from the rentals fact by dbt) must agree with
    overall_transaction_statistics (computed by Spark). -#}
{{ config(tags=['reconciliation']) }}

with

kpis as (
    select * from {{ ref('business_kpis') }}
),

overall as (
    select * from {{ ref('stg_car_rental__overall_statistics') }}
),

final as (
    select
        kpis.total_revenue as kpi_total_revenue,
        overall.total_revenue as overall_total_revenue,
        kpis.total_rentals as kpi_total_rentals,
        overall.total_rentals as overall_total_rentals
    from kpis
    cross join overall
    where
        kpis.total_revenue != overall.total_revenue
        or kpis.total_rentals != overall.total_rentals
        or kpis.active_users != overall.unique_users
        or kpis.vehicles_rented != overall.unique_vehicles_rented
        or abs(kpis.avg_rental_value - overall.avg_rental_value) > 0.0001
)

select * from final
