"""Station variants: product codes, firmware strings and the features each one has."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, kw_only=True)
class Variant:
    """What kind of station is simulated and which features it offers.

    The product codes and firmware strings are illustrative; they follow the pattern shown in
    KEBA's UDP programmers guide (``KC-P30-ES240022-E0R``, ``P30 v 3.9.12 (180109-164149)``) and
    the type key the engine reads (``custom_components/keba/kecontact/product.py``): series from
    the third group, meter and RFID from the fourth.
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
    bmw_format: bool = False
    """BMW firmware 3.9.17's report 1: numeric ``"ID": 1``, one combined ``"DIP-Sw"`` (DSW1 in
    the high byte) instead of ``DIP-Sw1``/``DIP-Sw2``, ``Backend`` 1, clock synchronised (so
    report 1xx carries Unix seconds in ``started[s]``/``ended[s]``), as its owners published."""
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
        # x-series (series letter B), cable, MID meter, RFID reader: the x-series variant with
        # the authorization setting of its own, so its code says RFID (last letter R).
        product="KC-P30-EC2404B2-M0R",
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
    "bmw-connect": Variant(
        name="bmw-connect",
        # BMW Wallbox Connect: a P30 with a COM module and RFID, no display (report 1 as
        # published in HomeControlLib, P. Trimmel, 2019).
        product="BMW-10-EC2405B2-E1R",
        firmware="P30 v 3.9.17 (180601-115841)",
        series="P30",
        has_display=False,
        com_module=1,
        explicit_auth_setting=True,
        socket_outlet=False,
        bmw_format=True,
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
        # P20 e-series: the third group ends in 01 (10 would be a b-series, 20/30 a c-series).
        product="KC-P20-ES240001-000",
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
