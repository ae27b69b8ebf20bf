-- depends_on: {{ ref('int_output_totals_reconciled') }}
with

rentals as (
    select * from {{ ref('stg_car_rental__rentals') }}
),

daily as (
    select
        rental_date,
        sum(rental_amount) as total_revenue,
        count(*) as total_rentals,
        count(distinct user_id) as active_users,
        count(distinct vehicle_id) as vehicles_rented,
        {{ safe_divide('sum(rental_amount)', 'count(*)') }} as avg_rental_value,
        {{ stable_avg('rental_duration_hours') }} as avg_rental_duration_hours
    from rentals
    group by rental_date
),

final as (
    select
        rental_date,
        cast({{ dbt.date_trunc('week', 'rental_date') }} as date)
            as rental_week_start_date,
        cast({{ dbt.date_trunc('month', 'rental_date') }} as date)
            as rental_month_start_date,
        {{ to_money('total_revenue') }} as total_revenue,
        cast(total_rentals as bigint) as total_rentals,
        cast(active_users as bigint) as active_users,
        cast(vehicles_rented as bigint) as vehicles_rented,
        avg_rental_value,
        avg_rental_duration_hours
    from daily
)

select * from final
