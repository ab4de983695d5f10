"""Solar-surplus charging simulation: virtual-time event loop, site model, strategies, metrics.

Used by ``scripts/bench_solar``; see :mod:`scripts.bench_solar` for what it measures.

The benchmark needs two pure modules of the integration, the controller
(``custom_components.keba.surplus``) and the protocol engine (``custom_components.keba.kecontact``),
but not Home Assistant, which the package's ``__init__`` imports. Importing this package
registers ``custom_components.keba`` as a bare package (its directory, without running its
``__init__``), unless the real package was imported already.
"""

from __future__ import annotations

import scripts.bare_integration  # noqa: F401  (registers the bare package)
