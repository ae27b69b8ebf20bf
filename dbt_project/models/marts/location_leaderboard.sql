-- depends_on: {{ ref('int_output_totals_reconciled') }}
with

locations as (
    select * from {{ ref('stg_car_rental__location_performance') }}
),

totals as (
    select sum(total_revenue) as overall_revenue from locations
),

ranked as (
    select
        locations.*,
        row_number() over (
            order by locations.total_revenue desc, locations.location_id asc
        ) as revenue_rank,
        sum(locations.total_revenue) over (
            order by locations.total_revenue desc, locations.location_id asc
            rows between unbounded preceding and current row
        ) as cumulative_revenue,
        totals.overall_revenue
    from locations
    cross join totals
),

final as (
    select
        location_id,
        cast(revenue_rank as integer) as revenue_rank,
        location_name,
        city,
        state,
        {{ to_money('total_revenue') }} as total_revenue,
        total_rentals,
        avg_rental_value,
        unique_vehicles_rented,
        avg_rental_duration_hours,
        {{ safe_divide('total_revenue', 'overall_revenue') }} as revenue_share,
        {{ safe_divide('cumulative_revenue', 'overall_revenue') }}
            as cumulative_revenue_share,
        coalesce(
            {{ safe_divide('cumulative_revenue - total_revenue',
                'overall_revenue') }}
            < {{ var('pareto_revenue_share') }},
            false
        ) as is_pareto_core
    from ranked
)

select * from final
