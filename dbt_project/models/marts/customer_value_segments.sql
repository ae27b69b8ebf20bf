-- depends_on: {{ ref('int_output_totals_reconciled') }}
with

customers as (
    select * from {{ ref('int_customers_segmented') }}
),

segments as (
    select
        'top_{{ var("top_segment_pct") }}_pct' as value_segment,
        1 as segment_order,
        'Top {{ var("top_segment_pct") }}% of customers by spending'
            as segment_description
    union all
    select
        'top_{{ var("high_segment_pct") }}_pct' as value_segment,
        2 as segment_order,
        'Rest of the top {{ var("high_segment_pct") }}%' as segment_description
    union all
    select
        'rest' as value_segment,
        3 as segment_order,
        'Everyone else' as segment_description
),

per_segment as (
    select
        value_segment,
        count(*) as customer_count,
        sum(total_spending) as total_spending,
        min(total_spending) as min_customer_spending,
        max(total_spending) as max_customer_spending
    from customers
    group by value_segment
),

totals as (
    select
        count(*) as overall_customers,
        sum(total_spending) as overall_spending
    from customers
),

final as (
    select
        segments.value_segment,
        cast(segments.segment_order as integer) as segment_order,
        segments.segment_description,
        cast(coalesce(per_segment.customer_count, 0) as bigint)
            as customer_count,
        {{ to_money('coalesce(per_segment.total_spending, 0)') }}
            as total_spending,
        {{ safe_divide('per_segment.total_spending',
            'per_segment.customer_count') }} as avg_spending_per_customer,
        {{ to_money('per_segment.min_customer_spending') }}
            as min_customer_spending,
        {{ to_money('per_segment.max_customer_spending') }}
            as max_customer_spending,
        coalesce(
            {{ safe_divide('per_segment.customer_count',
                'totals.overall_customers') }},
            0
        ) as customer_share,
        coalesce(
            {{ safe_divide('per_segment.total_spending',
                'totals.overall_spending') }},
            0
        ) as revenue_share
    from segments
    cross join totals
    left join per_segment
        on segments.value_segment = per_segment.value_segment
)

select * from final
