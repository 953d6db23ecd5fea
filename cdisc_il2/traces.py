"""The layout of the two traces a run keeps: trace.csv (each SDTM record to its raw row) and trace_cells.csv
(each collected value to its raw cell); convert makes them, the queries and the comparison read them."""
from __future__ import annotations

CELL_COLUMNS = ["DOMAIN", "USUBJID", "SEQ", "VARIABLE", "file", "sheet", "row", "heading", "raw"]
# the traces' text columns held as categoricals: a few files, sheets and subjects repeated millions of times
CELL_CATEGORIES = ["DOMAIN", "USUBJID", "VARIABLE", "file", "sheet", "heading", "raw"]
TRACE_CATEGORIES = ["DOMAIN", "USUBJID", "QNAM", "file", "sheet", "column"]
