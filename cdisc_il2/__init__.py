"""cdisc-il2: raw site spreadsheets of the low-dose IL-2 SLE trial to CDISC SDTM and ADaM."""

__version__ = "0.1.0"

import pandas as _pd

# Text columns use Arrow storage: string operations run vectorized in C++ instead of per-value Python.
_pd.options.mode.string_storage = "pyarrow"
