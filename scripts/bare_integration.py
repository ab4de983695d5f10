"""Import the integration's pure modules without Home Assistant.

The benchmarks drive the integration's own pure code (protocol engine, site control, session
ledger), but the package's ``__init__`` imports Home Assistant. Importing this module registers
``custom_components.keba`` as a bare package (its directory, without running its
``__init__``), unless the real package was imported already.
"""

from __future__ import annotations

from pathlib import Path
import sys
import types


def register_bare_integration_package() -> None:
    """Make ``custom_components.keba.<module>`` importable without the package's ``__init__``."""
    name = "custom_components.keba"
    if name in sys.modules:
        return
    root = Path(__file__).resolve().parents[1] / "custom_components"
    if "custom_components" not in sys.modules:
        namespace = types.ModuleType("custom_components")
        namespace.__path__ = [str(root)]
        sys.modules["custom_components"] = namespace
    package = types.ModuleType(name)
    package.__path__ = [str(root / "keba")]
    package.__package__ = name
    sys.modules[name] = package


register_bare_integration_package()
