"""Rule functions and condition operators that need code, one module per rule group (class or domain).

Every module in this package is imported here, so a new group of rules adds a module, not an edit elsewhere.
"""
from __future__ import annotations

import importlib
import pkgutil

for _m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    importlib.import_module(f"{__name__}.{_m.name}")
