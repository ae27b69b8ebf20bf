{#- The one-row overview the run report and dashboard lead with. -#}
-- depends_on: {{ ref('int_output_totals_reconciled') }}
with

rentals as (
    select * from {{ ref('stg_car_rental__rentals') }}
),

final as (
    select
        {{ to_money('sum(rental_amount)') }} as total_revenue,
        cast(count(*) as bigint) as total_rentals,
        cast(count(distinct user_id) as bigint) as active_users,
        cast(count(distinct vehicle_id) as bigint) as vehicles_rented,
        {{ safe_divide('sum(rental_amount)', 'count(*)') }} as avg_rental_value,
        {{ stable_avg('rental_duration_hours') }} as avg_rental_duration_hours
    from rentals
)

select * from final
