"""cdisc-il2: raw site spreadsheets of the low-dose IL-2 SLE trial to CDISC SDTM and ADaM."""

__version__ = "0.1.0"

# Text columns use Arrow storage: string operations run vectorized in C++ instead of per-value Python. pandas 3
# (required, with pyarrow) stores StringDtype in Arrow by default (mode.string_storage 'auto'), so pandas is not
# imported here: `cdisc-il2 --help` and `cdisc-il2 version` start without it.
