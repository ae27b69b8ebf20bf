with

source as (
    select * from {{ source('car_rental', 'overall_transaction_statistics') }}
),

renamed as (
    select
        cast(overall_total_revenue as decimal(18, 2)) as total_revenue,
        cast(overall_total_transactions as bigint) as total_rentals,
        cast(overall_total_unique_users as bigint) as unique_users,
        cast(overall_total_unique_vehicles_rented as bigint)
            as unique_vehicles_rented,
        cast(overall_avg_transaction_value as double) as avg_rental_value
    from source
)

select * from renamed
