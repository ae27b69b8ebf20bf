with

source as (
    select * from {{ source('car_rental', 'vehicle_type_performance') }}
),

renamed as (
    select
        cast(vehicle_type as {{ dbt.type_string() }}) as vehicle_type,
        cast(total_revenue_by_vehicle_type as decimal(18, 2)) as total_revenue,
        cast(total_transactions_by_vehicle_type as bigint) as total_rentals,
        cast(avg_transaction_amount_by_vehicle_type as double)
            as avg_rental_value,
        cast(avg_rental_duration_hours_by_vehicle_type as double)
            as avg_rental_duration_hours
    from source
)

select * from renamed
