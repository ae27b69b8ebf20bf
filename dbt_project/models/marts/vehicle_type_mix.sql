-- depends_on: {{ ref('int_output_totals_reconciled') }}
with

vehicle_types as (
    select * from {{ ref('stg_car_rental__vehicle_type_performance') }}
),

totals as (
    select
        sum(total_revenue) as overall_revenue,
        sum(total_rentals) as overall_rentals
    from vehicle_types
),

final as (
    select
        vehicle_types.vehicle_type,
        cast(
            row_number() over (
                order by
                    vehicle_types.total_revenue desc,
                    vehicle_types.vehicle_type asc
            ) as integer
        ) as revenue_rank,
        {{ to_money('vehicle_types.total_revenue') }} as total_revenue,
        vehicle_types.total_rentals,
        vehicle_types.avg_rental_value,
        vehicle_types.avg_rental_duration_hours,
        {{ safe_divide('vehicle_types.total_revenue',
            'totals.overall_revenue') }} as revenue_share,
        {{ safe_divide('vehicle_types.total_rentals',
            'totals.overall_rentals') }} as rental_share
    from vehicle_types
    cross join totals
)

select * from final
