"""Prepare a Home Assistant configuration directory before Home Assistant starts.

Run it with the interpreter of the venv that runs Home Assistant::

    python scripts/ha_config.py http CONFIG_DIR --host 127.0.0.1 --port 8123
    python scripts/ha_config.py onboarding CONFIG_DIR
    python scripts/ha_config.py requirements CONFIG_DIR

``http``
    Stores the HTTP server settings in ``.storage/http`` as Home Assistant's confirmed ("stable")
    configuration. Home Assistant 2026.10 reads the ``http:`` YAML section only once, keeps it
    as an unconfirmed trial that it reverts (to all interfaces) after five minutes unless
    someone confirms it in the UI, and ignores the YAML afterwards; storing the settings directly
    binds the server where intended from the first start on, every time.
``onboarding``
    In a directory without onboarding state, marks the location and analytics steps of the
    onboarding done. Finishing the location step through the API would set up the onboarding
    integrations (weather, radio browser, text-to-speech), which reach the internet. The user
    is created afterwards through the onboarding API (``scripts/ha_client.py onboard``).
``requirements``
    Prints the Python packages that the integrations of the configuration need: the top-level
    keys of ``configuration.yaml`` plus the integrations Home Assistant always loads, with their
    ``dependencies`` and ``after_dependencies`` (as Home Assistant resolves them), read from the
    manifests of the installed ``homeassistant`` package and of ``CONFIG_DIR/custom_components``,
    plus the default login module's (TOTP). Installing them beforehand spares Home Assistant
    from installing packages while it starts.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import re
import sys
from typing import Any

import homeassistant
from homeassistant import bootstrap
from homeassistant.auth.mfa_modules import totp
from homeassistant.components.http import config as http_config
from homeassistant.util import dt as dt_util

ONBOARDING_STORAGE_VERSION = 4
ONBOARDING_STEPS_DONE_AHEAD = ("core_config", "analytics")

# A top-level key of configuration.yaml: "frontend:", "sensor 2:", "keba: !include x.yaml".
_TOP_LEVEL_KEY = re.compile(r"^([a-z0-9_]+)(?:\s+[^:]*)?:(?:\s|$)")


def _write_storage(
    config_dir: Path, key: str, version: int, minor_version: int, data: dict[str, Any]
) -> None:
    storage = config_dir / ".storage"
    storage.mkdir(parents=True, exist_ok=True)
    document = {"version": version, "minor_version": minor_version, "key": key, "data": data}
    path = storage / key
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    os.chmod(path, 0o600)


def write_http_storage(config_dir: Path, host: str, port: int) -> None:
    """Store ``host``:``port`` as the confirmed HTTP server configuration."""
    settings = dict(
        http_config.HTTP_STORAGE_SCHEMA(
            {http_config.CONF_SERVER_HOST: [host], http_config.CONF_SERVER_PORT: port}
        )
    )
    settings.update(created_at=dt_util.utcnow().isoformat(), error=None, error_message=None)
    _write_storage(
        config_dir,
        http_config.STORAGE_KEY,
        http_config.STORAGE_VERSION,
        http_config.STORAGE_MINOR_VERSION,
        {"stable": settings, "pending": None, "yaml_migration_done": True},
    )


def write_onboarding_storage(config_dir: Path) -> bool:
    """Mark the location and analytics steps done; False if onboarding state exists already."""
    if (config_dir / ".storage" / "onboarding").exists():
        return False
    _write_storage(
        config_dir,
        "onboarding",
        ONBOARDING_STORAGE_VERSION,
        1,
        {"done": list(ONBOARDING_STEPS_DONE_AHEAD)},
    )
    return True


def write_empty_frontend(directory: Path) -> Path:
    """Create an empty frontend build in ``directory``; return the path for ``development_repo``.

    For instances used through the API only, in a venv without the frontend package: Home
    Assistant starts in recovery mode (without custom integrations) when the frontend fails to
    set up, and ``frontend: development_repo: PATH`` makes it serve this empty build instead.
    """
    for name in ("static", "frontend_latest", "frontend_es5"):
        (directory / "hass_frontend" / name).mkdir(parents=True, exist_ok=True)
    return directory


def configured_domains(config_dir: Path) -> set[str]:
    """Integrations named at the top level of ``configuration.yaml`` (none if it is missing)."""
    config_file = config_dir / "configuration.yaml"
    if not config_file.is_file():
        return set()
    domains = set()
    for line in config_file.read_text(encoding="utf-8").splitlines():
        if match := _TOP_LEVEL_KEY.match(line):
            domains.add(match.group(1))
    return domains


def load_manifests(config_dir: Path) -> dict[str, dict[str, Any]]:
    """Manifests of the built-in integrations, overridden by custom integrations."""
    manifests: dict[str, dict[str, Any]] = {}
    roots = [Path(homeassistant.__file__).parent / "components", config_dir / "custom_components"]
    for root in roots:
        if not root.is_dir():
            continue
        for manifest_file in root.glob("*/manifest.json"):
            manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
            manifests[manifest_file.parent.name] = manifest
    return manifests


def requirements_for(domains: set[str], manifests: dict[str, dict[str, Any]]) -> list[str]:
    """Requirements of ``domains`` and everything they depend on, without duplicates."""
    seen: set[str] = set()
    pending = sorted(domains)
    requirements: list[str] = []
    while pending:
        domain = pending.pop()
        if domain in seen or domain not in manifests:
            continue
        seen.add(domain)
        manifest = manifests[domain]
        for key in ("dependencies", "after_dependencies"):
            pending.extend(str(dep) for dep in manifest.get(key) or [])
        for requirement in manifest.get("requirements") or []:
            if requirement not in requirements:
                requirements.append(str(requirement))
    return requirements


def runtime_requirements(config_dir: Path) -> list[str]:
    """Every package Home Assistant would install at start-up for ``config_dir``, sorted."""
    domains = configured_domains(config_dir)
    domains |= set(bootstrap.DEFAULT_INTEGRATIONS) | set(bootstrap.CORE_INTEGRATIONS)
    requirements = requirements_for(domains, load_manifests(config_dir))
    requirements.extend(req for req in totp.REQUIREMENTS if req not in requirements)
    return sorted(requirements, key=str.lower)


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    http = sub.add_parser("http", help="store the HTTP server's address as confirmed settings")
    http.add_argument("config_dir", type=Path)
    http.add_argument("--host", default="127.0.0.1")
    http.add_argument("--port", type=int, default=8123)
    onboarding = sub.add_parser("onboarding", help="mark the location and analytics steps done")
    onboarding.add_argument("config_dir", type=Path)
    requirements = sub.add_parser("requirements", help="print the packages the config needs")
    requirements.add_argument("config_dir", type=Path)
    args = parser.parse_args(argv)

    if args.command == "http":
        write_http_storage(args.config_dir, args.host, args.port)
    elif args.command == "onboarding":
        write_onboarding_storage(args.config_dir)
    else:
        sys.stdout.write("".join(f"{req}\n" for req in runtime_requirements(args.config_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
