"""Solar-surplus charging simulation: virtual-time event loop, site model, strategies, metrics.

Used by ``scripts/bench_solar``; see :mod:`scripts.bench_solar` for what it measures.

The benchmark needs two pure modules of the integration, the controller
(``custom_components.keba.surplus``) and the protocol engine (``custom_components.keba.kecontact``),
but not Home Assistant, which the package's ``__init__`` imports. Importing this package
registers ``custom_components.keba`` as a bare package (its directory, without running its
``__init__``), unless the real package was imported already.
"""

from __future__ import annotations

from pathlib import Path
import sys
import types


def _register_bare_integration_package() -> None:
    name = "custom_components.keba"
    if name in sys.modules:
        return
    root = Path(__file__).resolve().parents[2] / "custom_components"
    if "custom_components" not in sys.modules:
        namespace = types.ModuleType("custom_components")
        namespace.__path__ = [str(root)]
        sys.modules["custom_components"] = namespace
    package = types.ModuleType(name)
    package.__path__ = [str(root / "keba")]
    package.__package__ = name
    sys.modules[name] = package


_register_bare_integration_package()
