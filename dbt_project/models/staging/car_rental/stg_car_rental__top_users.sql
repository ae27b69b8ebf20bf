with

source as (
    select * from {{ source('car_rental', 'top_users_by_spending') }}
),

renamed as (
    select
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(spending_rank as integer) as spending_rank,
        {#- raw PII stays in the source database: names are dropped, the
            e-mail is masked before anything in this schema can read it -#}
        {{ mask_email('email') }} as email_masked,
        cast(total_rental_transactions as bigint) as total_rentals,
        cast(total_spending as decimal(18, 2)) as total_spending,
        cast(average_transaction_value as double) as avg_rental_value,
        cast(is_active as boolean) as is_active,
        cast(creation_date as date) as creation_date
    from source
)

select * from renamed
