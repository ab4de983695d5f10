"""manifest.json, hacs.json and quality_scale.yaml against HACS's and Home Assistant's rules.

The rules are restated here from their published sources (not taken from our files):
- HACS: ``custom_components/hacs/utils/validate.py`` of hacs/integration —
  ``HACS_MANIFEST_JSON_SCHEMA`` (hacs.json: ``name`` required, no other keys than the listed
  ones) and ``INTEGRATION_MANIFEST_JSON_SCHEMA`` (manifest.json: codeowners, documentation,
  domain, issue_tracker, name, version required).
- Home Assistant: ``script/hassfest/manifest.py`` of home-assistant/core —
  ``CUSTOM_INTEGRATION_MANIFEST_SCHEMA`` (allowed keys, version formats) and the key order
  "domain, name, then alphabetical order"; ``script/hassfest/quality_scale.py`` (the rules).
"""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

from awesomeversion import AwesomeVersion, AwesomeVersionStrategy
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
INTEGRATION = REPO / "custom_components" / "keba"

HACS_JSON_KEYS = {
    "content_in_root": bool,
    "country": (str, list),
    "filename": str,
    "hacs": str,
    "hide_default_branch": bool,
    "homeassistant": str,
    "persistent_directory": str,
    "render_readme": bool,
    "zip_release": bool,
    "name": str,
}
HACS_MANIFEST_REQUIRED = {
    "codeowners",
    "documentation",
    "domain",
    "issue_tracker",
    "name",
    "version",
}
HASSFEST_CUSTOM_MANIFEST_KEYS = {
    "after_dependencies",
    "bluetooth",
    "codeowners",
    "config_flow",
    "dependencies",
    "dhcp",
    "disabled",
    "documentation",
    "domain",
    "homekit",
    "import_executor",
    "integration_type",
    "iot_class",
    "issue_tracker",
    "loggers",
    "mqtt",
    "name",
    "preview_features",
    "quality_scale",
    "requirements",
    "single_config_entry",
    "ssdp",
    "usb",
    "version",
    "zeroconf",
}
INTEGRATION_TYPES = {"device", "entity", "hardware", "helper", "hub", "service", "system"}
IOT_CLASSES = {
    "assumed_state",
    "calculated",
    "cloud_polling",
    "cloud_push",
    "local_polling",
    "local_push",
}
VERSION_STRATEGIES = [
    AwesomeVersionStrategy.CALVER,
    AwesomeVersionStrategy.SEMVER,
    AwesomeVersionStrategy.SIMPLEVER,
    AwesomeVersionStrategy.BUILDVER,
    AwesomeVersionStrategy.PEP440,
]
QUALITY_SCALE_RULES = {
    "bronze": [
        "action-setup",
        "appropriate-polling",
        "brands",
        "common-modules",
        "config-flow",
        "config-flow-test-coverage",
        "dependency-transparency",
        "docs-actions",
        "docs-conditions",
        "docs-high-level-description",
        "docs-installation-instructions",
        "docs-removal-instructions",
        "docs-triggers",
        "entity-event-setup",
        "entity-unique-id",
        "has-entity-name",
        "runtime-data",
        "test-before-configure",
        "test-before-setup",
        "unique-config-entry",
    ],
    "silver": [
        "action-exceptions",
        "config-entry-unloading",
        "docs-configuration-parameters",
        "docs-installation-parameters",
        "entity-unavailable",
        "integration-owner",
        "log-when-unavailable",
        "parallel-updates",
        "reauthentication-flow",
        "test-coverage",
    ],
    "gold": [
        "devices",
        "diagnostics",
        "discovery",
        "discovery-update-info",
        "docs-data-update",
        "docs-examples",
        "docs-known-limitations",
        "docs-supported-devices",
        "docs-supported-functions",
        "docs-troubleshooting",
        "docs-use-cases",
        "dynamic-devices",
        "entity-category",
        "entity-device-class",
        "entity-disabled-by-default",
        "entity-translations",
        "exception-translations",
        "icon-translations",
        "reconfiguration-flow",
        "repair-issues",
        "stale-devices",
    ],
    "platinum": ["async-dependency", "inject-websession", "strict-typing"],
}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    """manifest.json as written (key order kept)."""
    result: dict[str, Any] = json.loads((INTEGRATION / "manifest.json").read_text("utf-8"))
    return result


@pytest.fixture(scope="module")
def hacs() -> dict[str, Any]:
    """hacs.json at the repository root."""
    result: dict[str, Any] = json.loads((REPO / "hacs.json").read_text("utf-8"))
    return result


def _valid_version(value: str) -> bool:
    try:
        AwesomeVersion(value, ensure_strategy=VERSION_STRATEGIES)
    except Exception:  # noqa: BLE001 - any failure means "not a version"
        return False
    return True


def test_manifest_has_what_hacs_requires(manifest: dict[str, Any]) -> None:
    """HACS's required keys, with URLs and a version it can compare."""
    assert sorted(HACS_MANIFEST_REQUIRED - manifest.keys()) == []
    assert manifest["domain"] == INTEGRATION.name
    for key in ("documentation", "issue_tracker"):
        assert re.fullmatch(r"https://[^\s/]+/\S+", manifest[key]), key
    assert not manifest["documentation"].startswith("https://www.home-assistant.io/integrations")
    assert _valid_version(manifest["version"]), manifest["version"]


def test_manifest_keys_and_values_as_hassfest_wants(manifest: dict[str, Any]) -> None:
    """Only known keys, in hassfest's order (domain, name, then alphabetical), valid values."""
    assert sorted(manifest.keys() - HASSFEST_CUSTOM_MANIFEST_KEYS) == []
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    assert manifest["integration_type"] in INTEGRATION_TYPES
    assert manifest["iot_class"] in IOT_CLASSES
    for matcher in manifest.get("dhcp", []):
        mac = matcher["macaddress"]
        assert "*" in mac
        assert mac == mac.upper()
    for key in ("requirements", "dependencies", "codeowners"):
        assert all(isinstance(item, str) for item in manifest[key]), key


def test_manifest_names_a_code_owner_and_nothing_redundant(manifest: dict[str, Any]) -> None:
    """A GitHub handle as code owner; no defaults spelled out, no logger of our own package."""
    assert manifest["codeowners"], "codeowners must name the maintainer"
    assert all(
        re.fullmatch(r"@[A-Za-z0-9-]+(/[A-Za-z0-9_.-]+)?", o) for o in manifest["codeowners"]
    )
    # The owner's GitHub account is the one the documentation links point to.
    owner = manifest["documentation"].removeprefix("https://github.com/").split("/")[0]
    assert f"@{owner}" in manifest["codeowners"]
    assert "single_config_entry" not in manifest, "false is the default"
    # "loggers" lists the loggers of the requirements; the integration's own is implied.
    assert "loggers" not in manifest or not any(
        name.startswith("custom_components.") for name in manifest["loggers"]
    )


def test_hacs_json_as_hacs_wants(hacs: dict[str, Any], manifest: dict[str, Any]) -> None:
    """hacs.json: the name, only keys HACS knows with their types, a valid minimum version."""
    assert isinstance(hacs.get("name"), str)
    assert hacs["name"]
    assert sorted(hacs.keys() - HACS_JSON_KEYS.keys()) == []
    for key, value in hacs.items():
        assert isinstance(value, HACS_JSON_KEYS[key]), key
    assert not hacs.get("zip_release") or hacs.get("filename")
    assert _valid_version(hacs["homeassistant"])
    # Brand images in brand/ need Home Assistant 2026.3 or newer.
    assert AwesomeVersion(hacs["homeassistant"]) >= AwesomeVersion("2026.3.0")
    assert hacs["name"] == manifest["name"]


def test_hacs_minimum_version_is_the_one_the_readme_states(hacs: dict[str, Any]) -> None:
    """README's "Requires Home Assistant X or newer" and hacs.json agree."""
    readme = (REPO / "README.md").read_text("utf-8")
    stated = re.search(r"Requires Home Assistant (\d{4}\.\d+) or newer", readme)
    assert stated, "README should state the minimum Home Assistant version"
    assert hacs["homeassistant"].startswith(f"{stated.group(1)}.")


def test_quality_scale_lists_every_current_rule() -> None:
    """Every rule of Home Assistant's quality scale, each done, todo or exempt with a reason."""
    rules = yaml.safe_load((INTEGRATION / "quality_scale.yaml").read_text("utf-8"))["rules"]
    expected = [rule for tier in QUALITY_SCALE_RULES.values() for rule in tier]
    assert sorted(rules) == sorted(expected)
    for name, value in rules.items():
        status = value if isinstance(value, str) else value["status"]
        assert status in {"done", "todo", "exempt"}, name
        if status == "exempt":
            assert isinstance(value, dict), name
            assert value.get("comment"), f"{name}: an exemption needs a reason"
    for done in ("brands", "integration-owner", "strict-typing"):
        status = rules[done] if isinstance(rules[done], str) else rules[done]["status"]
        assert status == "done", done


def test_readme_names_the_tested_home_assistant_version() -> None:
    """README's "Tested versions" names the Home Assistant release the harness runs on."""
    from homeassistant.const import __version__ as ha_version

    readme = (REPO / "README.md").read_text("utf-8")
    tested = re.search(r"\*\*Tested versions:\*\*.*?Home Assistant \*\*([\d.]+)\*\*", readme, re.S)
    assert tested, "README should say which Home Assistant versions are tested"
    assert tested.group(1) == ha_version
