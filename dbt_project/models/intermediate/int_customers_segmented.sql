{#- Ranks customers by spending and assigns the value segment (tier). -#}
with

customers as (
    select * from {{ ref('stg_car_rental__user_spending') }}
),

ranked as (
    select
        customers.*,
        row_number() over (
            order by customers.total_spending desc, customers.user_id asc
        ) as spending_rank,
        count(*) over () as customer_count
    from customers
),

thresholds as (
    {#- In double on every engine: on Trino, x / 100.0 is a rounded decimal. -#}
    select
        ranked.*,
        ceil(
            cast(
                ranked.customer_count * {{ var('top_segment_pct') }} as double
            ) / 100
        ) as top_segment_last_rank,
        ceil(
            cast(
                ranked.customer_count * {{ var('high_segment_pct') }} as double
            ) / 100
        ) as high_segment_last_rank
    from ranked
),

final as (
    select
        user_id,
        email_masked,
        case
            when spending_rank <= top_segment_last_rank
                then 'top_{{ var("top_segment_pct") }}_pct'
            when spending_rank <= high_segment_last_rank
                then 'top_{{ var("high_segment_pct") }}_pct'
            else 'rest'
        end as value_segment,
        cast(spending_rank as integer) as spending_rank,
        total_rentals,
        total_spending,
        avg_rental_value,
        is_active,
        creation_date
    from thresholds
)

select * from final
