with

source as (
    select * from {{ source('car_rental', 'location_performance') }}
),

renamed as (
    select
        cast(location_id as integer) as location_id,
        cast(location_name as {{ dbt.type_string() }}) as location_name,
        cast(city as {{ dbt.type_string() }}) as city,
        cast(state as {{ dbt.type_string() }}) as state,
        cast(total_revenue_at_location as decimal(18, 2)) as total_revenue,
        cast(total_transactions_at_location as bigint) as total_rentals,
        cast(avg_transaction_amount_at_location as double) as avg_rental_value,
        cast(max_transaction_amount_at_location as decimal(12, 2))
            as max_rental_value,
        cast(min_transaction_amount_at_location as decimal(12, 2))
            as min_rental_value,
        cast(unique_vehicles_rented_at_location as bigint)
            as unique_vehicles_rented,
        cast(avg_rental_duration_hours_at_location as double)
            as avg_rental_duration_hours
    from source
)

select * from renamed
