{#- Customer-level mart: spending and segment (staging masked the PII). -#}
-- depends_on: {{ ref('int_output_totals_reconciled') }}
with

customers as (
    select * from {{ ref('int_customers_segmented') }}
),

final as (
    select
        user_id,
        email_masked,
        value_segment,
        spending_rank,
        total_rentals,
        {{ to_money('total_spending') }} as total_spending,
        avg_rental_value,
        is_active,
        creation_date
    from customers
)

select * from final
