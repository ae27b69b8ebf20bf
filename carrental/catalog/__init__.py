"""The local catalog: what the Glue crawlers do on AWS, over a local lake folder.

:func:`crawl` registers every processed table as a view ``car_rental_db.<table>``
in ``<lake>/warehouse.duckdb`` and returns a Glue ``GetCrawler``-shaped result.
"""

from carrental.catalog.crawler import (
    CRAWLERS,
    crawl,
    crawler_for_table,
    warehouse_path,
)

__all__ = ["CRAWLERS", "crawl", "crawler_for_table", "warehouse_path"]
