"""What a station can do, read from the product code of report 1.

KEBA product codes look like ``KC-P30-EC2404B2-M0R`` (P30 x-series, cable, MID meter, RFID) or
``KC-P20-ES240030-000`` (P20 c-series, socket, no RFID). Layout of the third group, position by
position: market, ``S`` socket / ``C`` cable, connector type, current class, two cable digits,
then the series (P30: ``0`` e-, ``1`` b-, ``2`` c-series, a letter for the x-series variants; P20:
the last two digits ``01`` e-, ``10`` b-, ``20``/``30`` c-series). The fourth group starts with the
meter (``0`` none, ``E`` energy meter, ``M`` MID, ``L`` German calibration law) and ends with the
authorization (``R`` RFID, ``K`` key switch, ``0`` none). OEM variants (``BMW-10-…``) are P30
c-series inside. Unknown codes fall back to the P30 c-series, the most common station.
"""

from __future__ import annotations

from dataclasses import dataclass
import enum

#: Fourth-group meter letters that mean "a meter is built in".
_METER_LETTERS = frozenset("EML")
#: P30 series characters that stand for the c-series; letters stand for the x-series.
_P30_C_SERIES = "2"
_P30_WITHOUT_NETWORK = frozenset("01")


class Model(enum.StrEnum):
    """Station families."""

    P30 = "P30"
    P20 = "P20"
    OEM = "OEM"


class Series(enum.StrEnum):
    """Series within a family."""

    A = "a-series"
    B = "b-series"
    C = "c-series"
    E = "e-series"
    X = "x-series"
    DE = "Deutschland edition"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities:
    """Which commands and reports a station supports."""

    product: str
    manufacturer: str
    model: Model
    series: Series
    model_name: str
    socket: bool | None
    meter: bool
    display: bool
    rfid: bool
    currtime: bool
    session_history: bool
    output_x2: bool
    web_interface: bool

    @classmethod
    def from_product(cls, product: str, *, com_module: bool | None = None) -> Capabilities:
        """Derive the capabilities from a product code (and report 1's ``COM-module``)."""
        code = product.strip().upper()
        groups = code.split("-")
        family = groups[1] if len(groups) > 1 else ""
        variant = groups[2] if len(groups) > 2 else ""
        options = groups[3] if len(groups) > 3 else ""
        socket = {"S": True, "C": False}.get(variant[1:2]) if len(variant) > 1 else None
        rfid = options.endswith("R")
        manufacturer = "KEBA" if groups[0] == "KC" else groups[0] or "KEBA"

        if family == "P20":
            series_digits = variant[-2:]
            series = {
                "01": Series.E,
                "10": Series.B,
                "20": Series.C,
                "30": Series.C,
            }.get(series_digits, Series.UNKNOWN)
            meter = series in (Series.B, Series.C)
            return cls(
                product=product,
                manufacturer=manufacturer,
                model=Model.P20,
                series=series,
                model_name=_name("P20", series),
                socket=socket,
                meter=meter,
                display=False,
                rfid=rfid,
                currtime=False,
                session_history=False,
                output_x2=True,
                web_interface=False,
            )

        if family == "P30" and code.endswith("-DE"):
            return cls(
                product=product,
                manufacturer=manufacturer,
                model=Model.P30,
                series=Series.DE,
                model_name=_name("P30", Series.DE),
                socket=socket,
                meter=False,
                display=False,
                rfid=rfid,
                currtime=True,
                session_history=True,
                output_x2=True,
                web_interface=False,
            )

        series_char = variant[6:7] if len(variant) >= 7 else ""
        if com_module:
            series = Series.X
        elif series_char == _P30_C_SERIES:
            series = Series.C
        elif series_char in _P30_WITHOUT_NETWORK and series_char:
            series = Series.E if series_char == "0" else Series.B
        elif series_char.isalpha():
            series = Series.X
        else:
            series = Series.C
        meter_letter = options[:1]
        meter = meter_letter in _METER_LETTERS if meter_letter else True
        model = Model.P30 if family == "P30" else Model.OEM
        # OEM wallboxes (BMW-10-…) are P30 inside but have no display, and their family group
        # ("10") is no name to show.
        oem = manufacturer != "KEBA"
        return cls(
            product=product,
            manufacturer=manufacturer,
            model=model,
            series=series,
            model_name=f"Wallbox (KeContact P30 {series.value})"
            if oem
            else _name(family or "P30", series),
            socket=socket,
            meter=meter,
            display=meter and not oem,
            rfid=rfid,
            currtime=True,
            session_history=True,
            output_x2=True,
            web_interface=series == Series.X,
        )


def _name(family: str, series: Series) -> str:
    if series == Series.UNKNOWN:
        return f"KeContact {family}"
    return f"KeContact {family} {series.value}"
