-- Ad-hoc analysis: revenue by vehicle brand (compile with `dbt compile`).
with

rentals as (
    select * from {{ ref('stg_car_rental__rentals') }}
)

select
    vehicle_brand,
    count(*) as total_rentals,
    sum(rental_amount) as total_revenue
from rentals
group by vehicle_brand
order by total_revenue desc
