"""Model families, one module each; importing this package registers every variant.

Every module in this package is imported, so a new family file registers itself (timm-style).
"""
import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")
