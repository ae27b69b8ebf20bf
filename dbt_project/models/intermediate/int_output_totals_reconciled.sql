{#- The quality gate's pivot: one row per Spark output with its revenue and
    rental totals (and, where the output reports them, distinct users,
    distinct vehicles and average rental value), next to the same measures
    computed from the rentals fact. Every mart depends on this model, and the
    singular test assert_revenue_and_counts_reconcile has it as its only
    parent, so a failed reconciliation skips every mart. -#}
with

location_performance as (
    select * from {{ ref('stg_car_rental__location_performance') }}
),

vehicle_type_performance as (
    select * from {{ ref('stg_car_rental__vehicle_type_performance') }}
),

user_spending as (
    select * from {{ ref('stg_car_rental__user_spending') }}
),

overall_statistics as (
    select * from {{ ref('stg_car_rental__overall_statistics') }}
),

rentals as (
    select * from {{ ref('stg_car_rental__rentals') }}
),

by_location as (
    select
        'location_performance' as output_name,
        sum(total_revenue) as total_revenue,
        sum(total_rentals) as total_rentals,
        cast(null as bigint) as unique_users,
        cast(null as bigint) as unique_vehicles_rented,
        cast(null as double) as avg_rental_value
    from location_performance
),

by_vehicle_type as (
    select
        'vehicle_type_performance' as output_name,
        sum(total_revenue) as total_revenue,
        sum(total_rentals) as total_rentals,
        cast(null as bigint) as unique_users,
        cast(null as bigint) as unique_vehicles_rented,
        cast(null as double) as avg_rental_value
    from vehicle_type_performance
),

by_user as (
    select
        'user_transaction_summary' as output_name,
        sum(total_spending) as total_revenue,
        sum(total_rentals) as total_rentals,
        count(*) as unique_users,
        cast(null as bigint) as unique_vehicles_rented,
        cast(null as double) as avg_rental_value
    from user_spending
),

overall as (
    select
        'overall_transaction_statistics' as output_name,
        sum(total_revenue) as total_revenue,
        sum(total_rentals) as total_rentals,
        sum(unique_users) as unique_users,
        sum(unique_vehicles_rented) as unique_vehicles_rented,
        sum(avg_rental_value) as avg_rental_value
    from overall_statistics
),

fact as (
    select
        sum(rental_amount) as total_revenue,
        count(*) as total_rentals,
        count(distinct user_id) as unique_users,
        count(distinct vehicle_id) as unique_vehicles_rented,
        {{ safe_divide('sum(rental_amount)', 'count(*)') }} as avg_rental_value
    from rentals
),

outputs as (
    select * from by_location
    union all
    select * from by_vehicle_type
    union all
    select * from by_user
    union all
    select * from overall
),

final as (
    select
        outputs.output_name,
        {{ to_money('outputs.total_revenue') }} as total_revenue,
        {{ to_money('fact.total_revenue') }} as fact_total_revenue,
        cast(outputs.total_rentals as bigint) as total_rentals,
        cast(fact.total_rentals as bigint) as fact_total_rentals,
        cast(outputs.unique_users as bigint) as unique_users,
        cast(fact.unique_users as bigint) as fact_unique_users,
        cast(outputs.unique_vehicles_rented as bigint)
            as unique_vehicles_rented,
        cast(fact.unique_vehicles_rented as bigint)
            as fact_unique_vehicles_rented,
        cast(outputs.avg_rental_value as double) as avg_rental_value,
        cast(fact.avg_rental_value as double) as fact_avg_rental_value
    from outputs
    cross join fact
)

select * from final
