"""A tiny hand-written lake: every row's fate is known in advance (see the comments)."""

from __future__ import annotations

from pathlib import Path

VEHICLES = """active,vehicle_license_number,registration_name,license_type,expiration_date,permit_license_number,certification_date,vehicle_year,base_telematics_id,vehicle_type,brand,vehicle_id
1,LIC1,REG1,FHV,2026-01-01,P1,2020-01-01,2019,B1,economy,Toyota,V1
0,LIC2,REG2,FHV,2026-01-01,P2,2020-01-01,2020,B2,suv,Ford,V2
true,LIC3,REG3,FHV,2026-01-01,P3,2020-01-01,2021,B3,luxury,BMW,V3
1,LIC4,REG4,FHV,2026-13-01,P4,2020-01-01,2021,B4,van,Kia,V4
yes,LIC5,REG5,FHV,2026-01-01,P5,2020-01-01,2021,B5,van,Kia,V5
1,LIC6,REG6,FHV,2026-01-01,P6,2020-01-01,20x1,B6,van,Kia,V6
1,LIC7,REG7,FHV,2026-01-01,P7,2020-01-01,2021,B7,SUV,Kia,V7
1,LIC8,REG8,FHV,2026-01-01,P8,2020-01-01,2021,B8,  ,Kia,V8
1,LIC9,REG9
"""
# valid V1 V2 V3; V4 INVALID_DATE, V5 INVALID_BOOLEAN, V6 INVALID_INTEGER, V7 (upper case) and
# V8 (blank type) INVALID_VALUE, last MALFORMED_ROW

LOCATIONS_A = """location_id,location_name,address,city,state,zip_code,latitude,longitude
1,Airport,1 Main St,Austin,TX,73301,30.1,-97.7
2,Downtown,"2 Oak St, Suite 5",Dallas,TX,75201,32.7,-96.8
3,Old Harbor,3 Bay Rd,Miami,FL,33101,25.7,-80.1
x9,Bad Id,9 Elm St,Austin,TX,73301,30.1,-97.7
,No Key,0 Elm St,Austin,TX,73301,30.1,-97.7
5,Bad Lat,5 Elm St,Austin,TX,73301,abc,-97.7
"""
LOCATIONS_B = """location_id,location_name,address,city,state,zip_code,latitude,longitude
3,Harbor,"3 Bay Rd
Unit 2",Miami,FL,33101,25.7,-80.1
4,Uptown,4 Elm St,Houston,TX,77001,29.7,-95.3
"""
# valid 1 2 3(Harbor, from locations_b.csv: greatest file name) 4; 3 in _a DUPLICATE_KEY,
# x9 INVALID_INTEGER, blank NULL_KEY, 5 INVALID_NUMBER

USERS = """user_id,first_name,last_name,email,phone_number,driver_license_number,driver_license_expiry,creation_date,is_active
U1,Ann,Lee,ann@x.com,555-1,DL1,2027-01-01,2023-01-05,1
U2,Bob,"Smith, Jr.",bob@x.com,555-2,DL2,2027-01-01,2023-02-05,0
U3,Cy,Doe,cy@x.com,555-3,DL3,2027-01-01,2023-03-05,true
   ,No,Key,nk@x.com,555-4,DL4,2027-01-01,2023-03-05,1
U9,Bad,Date,bd@x.com,555-9,DL9,2027-01-01,2023-02-30,1
U10,Too,Many,tm@x.com,555-0,DL0,2027-01-01,2023-01-01,1,EXTRA
"""
# valid U1 U2 U3; blank NULL_KEY, U9 INVALID_DATE, U10 MALFORMED_ROW

RENTALS_1 = """rental_id,user_id,vehicle_id,rental_start_time,rental_end_time,pickup_location,dropoff_location,total_amount
R1,U1,V1,2024-01-01 10:00:00,2024-01-01 12:00:00,1,2,100.00
R2,U1,V2,2024-01-01 09:00:00,2024-01-02 09:00:00,1,1,250.50
R3,U2,V1,2024-01-02 08:00:00,2024-01-02 08:30:00,2,3,20.25
R10,U1,V1,2024-01-01T10:00:00,2024-01-01 12:00:00,1,2,10.00
R11,U1,V1,2024-01-01 10:00:00+01:00,2024-01-01 12:00:00,1,2,10.00
R12,U1,V1,2024-01-01 10:00:00,2024-01-01 12:00:00,one,2,10.00
R13,U1,V1,2024-01-01 10:00:00,2024-01-01 12:00:00,1,2,12.345
R14,U1,V1,2024-01-01 10:00:00,2024-01-01 12:00:00,1,2,abc
R15,U1,V1,2024-01-01 10:00:00,2024-01-01 12:00:00,1,2,-5.00
R16,U1,V1,2024-01-01 10:00:00,2024-01-01 09:59:59,1,2,10.00
R17,U404,V1,2024-01-01 10:00:00,2024-01-01 12:00:00,1,2,10.00
"""
RENTALS_2 = """rental_id,user_id,vehicle_id,rental_start_time,rental_end_time,pickup_location,dropoff_location,total_amount
R1,U1,V1,2024-01-01 10:00:00,2024-01-01 12:00:00,1,2,110.00
R4,U3,V3,2024-01-03 00:00:00,2024-01-03 00:00:00,3,3,0
R5,U2,V3,2024-01-03 10:00:00,2024-01-03 13:00:00,1,3,"999.99"
R6,U3,V2,2024-01-04 10:00:00,2024-01-04 11:15:00,2,1,45.10
R18,U9,V1,2024-01-01 10:00:00,2024-01-01 12:00:00,1,2,10.00
R19,U1,V404,2024-01-01 10:00:00,2024-01-01 12:00:00,1,2,10.00
R20,U1,V4,2024-01-01 10:00:00,2024-01-01 12:00:00,1,2,10.00
R21,U1,V1,2024-01-01 10:00:00,2024-01-01 12:00:00,99,2,10.00
R22,U1,V1,2024-01-01 10:00:00,2024-01-01 12:00:00,1,5,10.00
,U1,V1,2024-01-01 10:00:00,2024-01-01 12:00:00,1,2,10.00
R23,U1,V1
R24,U1,V1,2024-01-01 10:00:00,2024-01-01 12:00:00,1,2,10.00,extra
R25,U1,V1,2024-01-01 10:00:00,2024-01-01 12:00:00,1,2,10000000000.00
"""
# valid: R1 (110.00 from rentals_2.csv), R2, R3, R4, R5, R6

#: dataset -> (rows_read, valid, {reason: count}), worked out by hand from the rows above.
EXPECTED_COUNTS = {
    "vehicles": (
        9,
        3,
        {
            "INVALID_DATE": 1,
            "INVALID_BOOLEAN": 1,
            "INVALID_INTEGER": 1,
            "INVALID_VALUE": 2,
            "MALFORMED_ROW": 1,
        },
    ),
    "locations": (
        8,
        4,
        {"DUPLICATE_KEY": 1, "INVALID_INTEGER": 1, "NULL_KEY": 1, "INVALID_NUMBER": 1},
    ),
    "users": (6, 3, {"NULL_KEY": 1, "INVALID_DATE": 1, "MALFORMED_ROW": 1}),
    "rental_transactions": (
        24,
        6,
        {
            "DUPLICATE_KEY": 1,
            "INVALID_TIMESTAMP": 2,
            "INVALID_INTEGER": 1,
            "INVALID_AMOUNT": 3,
            "NEGATIVE_AMOUNT": 1,
            "END_BEFORE_START": 1,
            "ORPHAN_USER": 2,
            "ORPHAN_VEHICLE": 2,
            "ORPHAN_PICKUP_LOCATION": 1,
            "ORPHAN_DROPOFF_LOCATION": 1,
            "NULL_KEY": 1,
            "MALFORMED_ROW": 2,
        },
    ),
}
VALID_RENTAL_IDS = {"R1", "R2", "R3", "R4", "R5", "R6"}

FILES = {
    "vehicles/vehicles.csv": VEHICLES,
    "locations/locations_a.csv": LOCATIONS_A,
    "locations/locations_b.csv": LOCATIONS_B,
    "users/users.csv": USERS,
    "rental_transactions/rentals_1.csv": RENTALS_1,
    "rental_transactions/rentals_2.csv": RENTALS_2,
}


def write_tiny_lake(lake: Path, files: dict[str, str] | None = None) -> Path:
    raw = lake / "data" / "raw"
    for rel, text in (files or FILES).items():
        path = raw / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return lake
