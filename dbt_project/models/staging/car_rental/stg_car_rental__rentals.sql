with

source as (
    select * from {{ source('car_rental', 'rentals_fact') }}
),

renamed as (
    select
        cast(rental_id as {{ dbt.type_string() }}) as rental_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(vehicle_id as {{ dbt.type_string() }}) as vehicle_id,
        cast(pickup_location as integer) as pickup_location_id,
        cast(dropoff_location as integer) as dropoff_location_id,
        cast(vehicle_type as {{ dbt.type_string() }}) as vehicle_type,
        cast(brand as {{ dbt.type_string() }}) as vehicle_brand,
        pickup_location_name,
        pickup_city,
        pickup_state,
        dropoff_location_name,
        dropoff_city,
        dropoff_state,
        cast(total_amount as decimal(12, 2)) as rental_amount,
        cast(rental_duration_hours as double) as rental_duration_hours,
        cast(rental_date as date) as rental_date,
        cast(rental_start_time as timestamp) as rental_started_at,
        cast(rental_end_time as timestamp) as rental_ended_at
    from source
)

select * from renamed
