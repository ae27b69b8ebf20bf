{#- rental_duration_hours in the fact equals end - start in hours, within
    0.01 h (the jobs may round to two decimals). A null duration or timestamp
    is a mismatch too (abs(null - x) > 0.01 would silently pass it). -#}
with

rentals as (
    select * from {{ ref('stg_car_rental__rentals') }}
),

final as (
    select
        rental_id,
        rental_duration_hours,
        {{ hours_between('rental_started_at', 'rental_ended_at') }}
            as recomputed_hours
    from rentals
    where
        rental_duration_hours is null
        or rental_started_at is null
        or rental_ended_at is null
        or abs(
            rental_duration_hours
            - {{ hours_between('rental_started_at', 'rental_ended_at') }}
        ) > 0.01
)

select * from final
