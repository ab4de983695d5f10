"""Capabilities from product codes: P30 c/x/DE, P20 e/b/c, OEM wallboxes, unknown codes."""

from __future__ import annotations

import pytest

from custom_components.keba.kecontact import Capabilities, Model, Series

FULL = {"meter": True, "display": True, "currtime": True, "session_history": True}
#: The x-series: like the c-series, but whether there is a display is learned (None).
X_FULL = {**FULL, "display": None}


@pytest.mark.parametrize(
    ("product", "com_module", "expected"),
    [
        # The guide's station: P30 c-series, socket, energy meter, RFID.
        (
            "KC-P30-ES240022-E0R",
            False,
            {
                "model": Model.P30,
                "series": Series.C,
                "model_name": "KeContact P30 c-series",
                "manufacturer": "KEBA",
                "socket": True,
                "rfid": True,
                "web_interface": False,
                "output_x2": True,
                **FULL,
            },
        ),
        # P30 x-series with cable and MID meter: known by its series letter (also while its
        # COM module is still starting and report 1 says 0)...
        (
            "KC-P30-EC2404B2-M0R",
            None,
            {"series": Series.X, "socket": False, "web_interface": True, "rfid": True, **X_FULL},
        ),
        ("KC-P30-EC2404B2-M0R", False, {"series": Series.X}),
        # ...or by the COM module of report 1 whatever the code says.
        (
            "KC-P30-EC240422-E00-XG",
            True,
            {"series": Series.X, "model_name": "KeContact P30 x-series", "rfid": False, **X_FULL},
        ),
        # An x-series without RFID and one whose display is unknown (openhab-addons#2038: a
        # KC-P30-EC2201C2-E00-CW with COM-module 1): RFID only from the code's last letter,
        # the display learned from the station.
        ("KC-P30-EC2201C2-E00-CW", True, {"series": Series.X, "rfid": False, "display": None}),
        ("KC-P30-EC2201C2-E00-CL", None, {"series": Series.X, "display": None}),
        # A c-series with RFID (the guide's) and one without.
        ("KC-P30-EC240422-E00", False, {"series": Series.C, "rfid": False, "display": True}),
        ("KC-P30-EC240422-E00-XG", False, {"series": Series.C, "web_interface": False}),
        # c-series without meter: no display, no report 3.
        ("KC-P30-ES240022-00R", False, {"series": Series.C, "meter": False, "display": False}),
        # German calibration law meter.
        ("KC-P30-EC240422-L0R", False, {"meter": True, "display": True}),
        # e- and b-series (no network of their own).
        ("KC-P30-EC240401-000", False, {"series": Series.E, "meter": False}),
        ("KC-P30-EC240411-E00", False, {"series": Series.B, "meter": True}),
        # Deutschland edition: no meter and no display, but currtime and history.
        (
            "KC-P30-EC220112-000-DE",
            False,
            {
                "model": Model.P30,
                "series": Series.DE,
                "model_name": "KeContact P30 Deutschland edition",
                "meter": False,
                "display": False,
                "currtime": True,
                "session_history": True,
                "web_interface": False,
            },
        ),
    ],
)
def test_p30(product: str, com_module: bool | None, expected: dict[str, object]) -> None:
    """P30 codes: series from the 7th character of the variant, meter and RFID from options."""
    caps = Capabilities.from_product(product, com_module=com_module)
    assert caps.product == product
    assert {key: getattr(caps, key) for key in expected} == expected


@pytest.mark.parametrize(
    ("product", "series", "meter", "rfid"),
    [
        ("KC-P20-ES230001-000", Series.E, False, False),
        ("KC-P20-EC230101-000", Series.E, False, False),
        ("KC-P20-ES240010-000", Series.B, True, False),
        ("KC-P20-EC220110-000", Series.B, True, False),
        ("KC-P20-ES240020-000", Series.C, True, False),
        ("KC-P20-ES240030-000-ST", Series.C, True, False),
        ("KC-P20-ES240020-00R", Series.C, True, True),
        # Real P20 firmware pads the product code with spaces to 32 characters.
        ("KC-P20-EC240130-000            ", Series.C, True, False),
        ("KC-P20-ES2400??-000", Series.UNKNOWN, False, False),
    ],
)
def test_p20(product: str, series: Series, meter: bool, rfid: bool) -> None:
    """P20: no currtime, no display, no session history; series from the last two digits."""
    caps = Capabilities.from_product(product)
    assert caps.model is Model.P20
    assert caps.series is series
    assert caps.meter is meter
    assert caps.rfid is rfid
    assert caps.currtime is False
    assert caps.display is False
    assert caps.session_history is False
    assert caps.web_interface is False
    assert caps.model_name.startswith("KeContact P20")


@pytest.mark.parametrize(
    ("product", "com_module", "series", "name", "web"),
    [
        # BMW Wallbox Plus codes (dannerph/keba-kecontact): no COM module reported.
        ("BMW-10-EC240522-E1R", False, Series.C, "Wallbox Plus", False),
        ("BMW-10-ESS40022-E1R", False, Series.C, "Wallbox Plus", False),
        # BMW Wallbox Connect: its report 1 says "COM-module": 1 (HomeControlLib, 2019).
        ("BMW-10-EC2405B2-E1R", True, Series.X, "Wallbox Connect", True),
        ("BMW-10-EC2405B2-E1R", None, Series.X, "Wallbox Connect", True),
        # The series of an OEM code is not read from its letters: COM-module decides.
        ("BMW-10-EC2405B2-E1R", False, Series.C, "Wallbox Connect", False),
        ("BMW-10-EC9999X2-E1R", None, Series.UNKNOWN, "Wallbox", False),
    ],
)
def test_bmw_oem(
    product: str, com_module: bool | None, series: Series, name: str, web: bool
) -> None:
    """BMW wallboxes are P30 inside: meter, RFID, currtime, history, but no display."""
    caps = Capabilities.from_product(product, com_module=com_module)
    assert caps.manufacturer == "BMW"
    assert caps.model is Model.OEM
    assert caps.series is series
    inside = "KeContact P30" if series is Series.UNKNOWN else f"KeContact P30 {series.value}"
    assert caps.model_name == f"{name} ({inside})"
    assert caps.meter is True
    assert caps.rfid is True
    assert caps.currtime is True
    assert caps.session_history is True
    assert caps.display is False
    assert caps.web_interface is web


def test_learn() -> None:
    """What a station's answers show replaces what the code could not tell."""
    caps = Capabilities.from_product("KC-P30-EC2201C2-E00-CW", com_module=True)
    assert caps.learn(display=False).display is False
    assert caps.learn(rfid=True).rfid is True
    assert caps.learn() == caps


@pytest.mark.parametrize(
    "product", ["", "   ", "KC", "KC-P30", "KC-P99-ZZZ", "XYZ-1-2-3-4-5", "KC-P30-\u00e4\u00f6-E0R"]
)
def test_unknown_codes(product: str) -> None:
    """Unknown or truncated codes never raise and fall back to what a P30 c-series can do."""
    caps = Capabilities.from_product(product)
    assert caps.series in (Series.C, Series.X, Series.E, Series.B, Series.UNKNOWN)
    assert caps.currtime is True
    assert caps.session_history is True
    assert caps.model_name
