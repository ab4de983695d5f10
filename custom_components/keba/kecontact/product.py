"""What a station can do, read from the product code of report 1 and learned from its answers.

KEBA product codes look like ``KC-P30-EC2404B2-M0R`` (P30 x-series, cable, MID meter, RFID) or
``KC-P20-ES240030-000`` (P20 c-series, socket, no RFID). Layout of the third group, position by
position: market, ``S`` socket / ``C`` cable, connector type, current class, two cable digits,
then the series (P30: ``0`` e-, ``1`` b-, ``2`` c-series, a letter for the x-series variants; P20:
the last two digits ``01`` e-, ``10`` b-, ``20``/``30`` c-series, as in KEBA's product catalogue
and dannerph/keba-kecontact). The fourth group starts with the meter (``0`` none, ``E`` energy
meter, ``M`` MID, ``L`` German calibration law) and ends with the authorization (``R`` RFID,
``K`` key switch, ``0`` none). RFID is a variant option on the c-series and on the x-series alike
(KEBA's x-series configuration manual: "certain device variants are equipped with an RFID
reader"; the Modbus TCP guide's register 1016 encodes "with RFID" separately from the series),
so only that last letter tells it; a station whose report 2 shows ``AuthON`` 1 has an
authorization function whatever its code says (:meth:`Capabilities.learn`).

The report 1 field ``COM-module`` (1 on the x-series) decides the series where the code cannot:
OEM codes such as BMW's (``BMW-10-EC2405B2-E1R``, the "Wallbox Connect", reports
``"COM-module": 1`` in report 1 as published by its owners (HomeControlLib, P. Trimmel, 2019);
``BMW-10-EC240522-E1R``/``-ESS40022-E1R`` are the "Wallbox Plus", names as in
dannerph/keba-kecontact) do not follow KEBA's series letters.

Whether an x-series station has a display cannot be read from its code (some variants, e.g.
``…-E00-CW``, have none): :attr:`Capabilities.display` is None there, and the station's answer to
the first ``display`` command settles it. Unknown codes fall back to the P30 c-series.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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
    #: None: cannot be known from the product code; learned from the first ``display`` reply.
    display: bool | None
    rfid: bool
    currtime: bool
    session_history: bool
    output_x2: bool
    web_interface: bool

    def learn(self, *, display: bool | None = None, rfid: bool | None = None) -> Capabilities:
        """A copy with what the station's answers showed (None: nothing learned)."""
        return replace(
            self,
            display=self.display if display is None else display,
            rfid=self.rfid if rfid is None else rfid,
        )

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

        meter_letter = options[:1]
        meter = meter_letter in _METER_LETTERS if meter_letter else True
        if manufacturer != "KEBA":
            return cls._oem(product, code, manufacturer, socket, meter, rfid, com_module)
        series_char = variant[6:7] if len(variant) >= 7 else ""
        if com_module:
            series = Series.X
        elif series_char == _P30_C_SERIES:
            series = Series.C
        elif series_char in _P30_WITHOUT_NETWORK and series_char:
            series = Series.E if series_char == "0" else Series.B
        elif series_char.isalpha():
            # An x-series reports COM-module 0 until its COM module has started (guide §2.4.2).
            series = Series.X
        else:
            series = Series.C
        display: bool | None = meter
        if series == Series.X and meter:
            display = None  # some x-series variants have no display: learned from the station
        model = Model.P30 if family == "P30" else Model.OEM
        return cls(
            product=product,
            manufacturer=manufacturer,
            model=model,
            series=series,
            model_name=_name(family or "P30", series),
            socket=socket,
            meter=meter,
            display=display,
            rfid=rfid,
            currtime=True,
            session_history=True,
            output_x2=True,
            web_interface=series == Series.X,
        )

    @classmethod
    def _oem(
        cls,
        product: str,
        code: str,
        manufacturer: str,
        socket: bool | None,
        meter: bool,
        rfid: bool,
        com_module: bool | None,
    ) -> Capabilities:
        """An OEM wallbox: a P30 inside; its series from report 1's ``COM-module``."""
        series = Series.UNKNOWN if com_module is None else Series.X if com_module else Series.C
        if com_module is None and code.startswith("BMW-10-EC2405B2"):
            series = Series.X  # the Wallbox Connect reports a COM module
        name = _OEM_NAMES.get(code.split("-", 2)[-1][:8] if code.startswith("BMW-") else "", "")
        inside = _name("P30", series)
        return cls(
            product=product,
            manufacturer=manufacturer,
            model=Model.OEM,
            series=series,
            model_name=f"{name or 'Wallbox'} ({inside})",
            socket=socket,
            meter=meter,
            display=False,  # BMW's wallboxes have no display
            rfid=rfid,
            currtime=True,
            session_history=True,
            output_x2=True,
            web_interface=series == Series.X,
        )


#: BMW product codes (third group) and the names BMW sells them under.
_OEM_NAMES = {"EC2405B2": "Wallbox Connect", "EC240522": "Wallbox Plus", "ESS40022": "Wallbox Plus"}


def _name(family: str, series: Series) -> str:
    if series == Series.UNKNOWN:
        return f"KeContact {family}"
    return f"KeContact {family} {series.value}"
