{#- rental_duration_hours in the fact equals end - start in hours, within one
    second (the jobs compute it from whole seconds, unrounded; only the double's
    last bits may differ). In double on every engine: on Trino, 1.0 / 3600 is a
    decimal rounded to 0.0. A null duration or timestamp is a mismatch too
    (abs(null - x) > tolerance would silently pass it). -#}
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
        ) > cast(1 as double) / 3600
)

select * from final
