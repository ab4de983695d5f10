"""Station variants: product codes, firmware strings and the features each one has."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, kw_only=True)
class Variant:
    """What kind of station is simulated and which features it offers.

    The product codes and firmware strings are illustrative; they follow the pattern shown in
    KEBA's UDP programmers guide (``KC-P30-ES240022-E0R``, ``P30 v 3.9.12 (180109-164149)``).
    """

    name: str
    """Short name used on the command line (``p30-c``, ``p30-x`` ...)."""
    product: str
    """Product code reported in ``report 1``."""
    firmware: str
    """Firmware string reported by ``i`` and ``report 1``."""
    series: str
    """``P30`` or ``P20``."""
    has_meter: bool = True
    """Energy meter present: ``report 3`` carries measured values and ``E pres`` is pushed."""
    has_display: bool = True
    """A display is present: the ``display`` command is accepted."""
    has_currtime: bool = True
    """The ``currtime`` command is known."""
    has_history: bool = True
    """``report 100`` ... ``report 130`` are known."""
    com_module: int = 0
    """Value of ``COM-module`` in ``report 1`` (1 on the x-series)."""
    explicit_auth_setting: bool = False
    """True when RFID authorization is a setting of its own (x-series) instead of following the
    whitelist (c-series, guide §2.4)."""
    socket_outlet: bool = True
    """True for a socket outlet (idle plug state 0), False for a fixed cable (idle plug state 3)."""
    udp_control: bool = True
    """DIP switch DSW1.3 on. Off: only ``i`` and ``report 1`` are answered, nothing is pushed,
    and report 1 carries ``DIP-Sw1`` with the DSW1.3 bit clear."""

    def with_product(self, product: str) -> Variant:
        """Return a copy that reports another product code."""
        return replace(self, product=product)


P30_FIRMWARE = "P30 v 3.10.27 (210105-174852)"
P20_FIRMWARE = "P20 v 2.5a3 (160613-073000)"

VARIANTS: dict[str, Variant] = {
    "p30-c": Variant(
        name="p30-c",
        product="KC-P30-ES240022-E0R",
        firmware=P30_FIRMWARE,
        series="P30",
    ),
    "p30-x": Variant(
        name="p30-x",
        product="KC-P30-EC240422-E00-XG",
        firmware=P30_FIRMWARE,
        series="P30",
        com_module=1,
        explicit_auth_setting=True,
        socket_outlet=False,
    ),
    "p30-c-udp-off": Variant(
        name="p30-c-udp-off",
        product="KC-P30-ES240022-E0R",
        firmware=P30_FIRMWARE,
        series="P30",
        udp_control=False,
    ),
    "p30-de": Variant(
        name="p30-de",
        product="KC-P30-ES240022-000-DE",
        firmware=P30_FIRMWARE,
        series="P30",
        has_meter=False,
        has_display=False,
    ),
    "p20": Variant(
        name="p20",
        product="KC-P20-ES240030-000-ST",
        firmware=P20_FIRMWARE,
        series="P20",
        has_display=False,
        has_currtime=False,
        has_history=False,
    ),
    "p20-e": Variant(
        name="p20-e",
        product="KC-P20-ES240010-000-E",
        firmware=P20_FIRMWARE,
        series="P20",
        has_meter=False,
        has_display=False,
        has_currtime=False,
        has_history=False,
    ),
}


def get_variant(name: str) -> Variant:
    """Return the variant called ``name`` (case-insensitive); raise ``ValueError`` if unknown."""
    try:
        return VARIANTS[name.strip().lower()]
    except KeyError:
        known = ", ".join(VARIANTS)
        raise ValueError(f"unknown variant {name!r} (known: {known})") from None
