"""cdisc-il2: raw site spreadsheets of the low-dose IL-2 SLE trial to CDISC SDTM and ADaM."""

__version__ = "0.1.0"
