"""A small client for the REST and websocket APIs of a running Home Assistant.

:class:`HomeAssistantClient` (blocking REST calls) needs only the standard library;
:class:`HomeAssistantAsyncClient` (websocket commands, event subscriptions and REST calls for
asyncio programs) uses aiohttp, which comes with Home Assistant. Used by ``scripts/develop`` (to
create the development user), ``scripts/bench_ha`` and the smoke test in ``tests/smoke``. As a
command::

    python scripts/ha_client.py --url http://127.0.0.1:8123 wait
    python scripts/ha_client.py --url http://127.0.0.1:8123 onboard --username dev --password dev

``wait`` returns once the HTTP server answers; ``onboard`` creates the owner account through
Home Assistant's onboarding API and finishes the remaining onboarding steps that need a login.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Mapping
import contextlib
from dataclasses import dataclass, field
import json
import os
import sys
import time
from typing import Any
import urllib.error
import urllib.parse
import urllib.request


class HomeAssistantApiError(Exception):
    """Home Assistant answered a request with an error status."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        """Describe the failed request."""
        super().__init__(f"{method} {path}: HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


@dataclass
class HomeAssistantClient:
    """Talks to one Home Assistant instance; log in with :meth:`onboard` or :meth:`login`."""

    base_url: str
    timeout: float = 30.0
    token: str | None = None
    client_id: str = field(init=False)

    def __post_init__(self) -> None:
        """Normalise the base URL; the client id is the instance's own URL, like the frontend's."""
        self.base_url = self.base_url.rstrip("/")
        self.client_id = f"{self.base_url}/"

    # ------------------------------------------------------------------------------ transport
    def request(
        self,
        method: str,
        path: str,
        payload: Mapping[str, Any] | None = None,
        *,
        form: Mapping[str, str] | None = None,
        auth: bool = True,
    ) -> Any:
        """Send a request and return the decoded JSON answer (or the text if it is not JSON)."""
        headers = {"Accept": "application/json"}
        data: bytes | None = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif payload is not None:
            data = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        if auth:
            if self.token is None:
                raise RuntimeError("not logged in: call onboard() or login() first")
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(  # noqa: S310 - the URL is the instance we were given
            self.base_url + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:  # noqa: S310
                body = response.read().decode()
        except urllib.error.HTTPError as err:
            raise HomeAssistantApiError(method, path, err.code, err.read().decode()) from err
        try:
            return json.loads(body) if body else None
        except json.JSONDecodeError:
            return body

    def get(self, path: str) -> Any:
        """GET ``path`` with the access token."""
        return self.request("GET", path)

    def post(self, path: str, payload: Mapping[str, Any] | None = None) -> Any:
        """POST JSON to ``path`` with the access token."""
        return self.request("POST", path, payload if payload is not None else {})

    # ---------------------------------------------------------------------------- start-up
    def wait_until_up(
        self, timeout: float = 120.0, process: Any = None, pid: int | None = None
    ) -> None:
        """Wait until the HTTP server answers.

        Gives up early when Home Assistant ends: ``process`` is its ``Popen``, or ``pid`` its
        process id.
        """
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"Home Assistant exited with code {process.returncode}")
            if pid is not None and not _process_exists(pid):
                raise RuntimeError(f"Home Assistant (process {pid}) has ended")
            try:
                self.request("GET", "/auth/providers", auth=False)
            except HomeAssistantApiError:
                return  # it answers (before onboarding: 400 "onboarding required")
            except OSError as err:
                last_error = err
                time.sleep(0.2)
            else:
                return
        raise TimeoutError(f"{self.base_url} did not answer within {timeout} s: {last_error}")

    def wait_until_running(self, timeout: float = 120.0) -> None:
        """Wait until Home Assistant has finished starting (``/api/config`` state RUNNING)."""
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            state = self.get("/api/config").get("state")
            if state == "RUNNING":
                return
            time.sleep(0.2)
        raise TimeoutError(f"Home Assistant still {state} after {timeout} s")

    # ---------------------------------------------------------------------------- logging in
    def _token_from_code(self, code: str) -> None:
        tokens = self.request(
            "POST",
            "/auth/token",
            form={"grant_type": "authorization_code", "code": code, "client_id": self.client_id},
            auth=False,
        )
        self.token = tokens["access_token"]

    def onboarding_steps_done(self) -> list[str]:
        """Onboarding steps already done (all of them once onboarding is complete)."""
        try:
            steps = self.request("GET", "/api/onboarding", auth=False)
        except HomeAssistantApiError as err:
            if err.status == 404:  # onboarding finished earlier: its views are not registered
                return ["user", "core_config", "analytics", "integration"]
            raise
        return [step["step"] for step in steps if step["done"]]

    def onboard(
        self, username: str, password: str, name: str = "Developer", language: str = "en"
    ) -> None:
        """Create the owner account, log in as it and finish the integration step.

        The ``core_config`` and ``analytics`` steps are left to the caller: finishing
        ``core_config`` through the API also sets up the onboarding integrations (weather,
        radio, text-to-speech), which reach the internet.
        """
        user = {
            "client_id": self.client_id,
            "name": name,
            "username": username,
            "password": password,
            "language": language,
        }
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                answer = self.request("POST", "/api/onboarding/users", user, auth=False)
                break
            except HomeAssistantApiError as err:
                # 404: the onboarding views are not registered yet while Home Assistant starts.
                if err.status != 404 or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self._token_from_code(answer["auth_code"])
        if "integration" not in self.onboarding_steps_done():
            self.post(
                "/api/onboarding/integration",
                {"client_id": self.client_id, "redirect_uri": f"{self.client_id}?auth_callback=1"},
            )

    def login(self, username: str, password: str) -> None:
        """Log in with Home Assistant's own user name and password provider."""
        flow = self.request(
            "POST",
            "/auth/login_flow",
            {
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": f"{self.client_id}?auth_callback=1",
            },
            auth=False,
        )
        result = self.request(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            {"client_id": self.client_id, "username": username, "password": password},
            auth=False,
        )
        if result.get("type") != "create_entry":
            raise HomeAssistantApiError("POST", "/auth/login_flow", 400, json.dumps(result))
        self._token_from_code(result["result"])

    # ------------------------------------------------------------------------- config flows
    def start_flow(self, handler: str) -> dict[str, Any]:
        """Start a config flow of ``handler`` from the user's side; return its first step."""
        return self.post(
            "/api/config/config_entries/flow",
            {"handler": handler, "show_advanced_options": False},
        )

    def continue_flow(self, flow_id: str, user_input: Mapping[str, Any]) -> dict[str, Any]:
        """Submit ``user_input`` to the current step of a config flow; return the next step."""
        return self.post(f"/api/config/config_entries/flow/{flow_id}", user_input)

    def config_entries(self, domain: str) -> list[dict[str, Any]]:
        """Config entries of ``domain``."""
        return self.get(f"/api/config/config_entries/entry?domain={urllib.parse.quote(domain)}")

    # -------------------------------------------------------------------------------- states
    def states(self) -> list[dict[str, Any]]:
        """All entity states."""
        return self.get("/api/states")

    def state(self, entity_id: str) -> dict[str, Any] | None:
        """The state of one entity, or None if it has none."""
        try:
            return self.get(f"/api/states/{entity_id}")
        except HomeAssistantApiError as err:
            if err.status == 404:
                return None
            raise


type EventCallback = Callable[[float, dict[str, Any]], None]
"""Receives ``(time.perf_counter() at arrival, event)`` for each event of a subscription."""


class HomeAssistantAsyncClient:
    """Websocket commands, event subscriptions and REST calls for asyncio programs (aiohttp).

    Use as ``async with HomeAssistantAsyncClient(url, token) as ha:``. Each event is stamped
    with ``time.perf_counter()`` the moment its message is read, before it is decoded further.
    """

    def __init__(self, base_url: str, token: str) -> None:
        """Remember where to connect; nothing happens before ``async with``."""
        self._base_url = base_url.rstrip("/")
        self._url = self._base_url + "/api/websocket"
        self._token = token
        self._next_id = 1
        self._results: dict[int, asyncio.Future[Any]] = {}
        self._subscriptions: dict[int, EventCallback] = {}
        self._session: Any = None
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> HomeAssistantAsyncClient:
        """Connect and authenticate."""
        import aiohttp

        self._session = aiohttp.ClientSession()
        try:
            await self._authenticate()
        except BaseException:
            await self._session.close()
            raise
        self._reader = asyncio.create_task(self._read())
        return self

    async def _authenticate(self) -> None:
        self._ws = await self._session.ws_connect(self._url, max_msg_size=0)
        hello = await self._ws.receive_json()
        if hello.get("type") != "auth_required":
            raise HomeAssistantApiError("WS", "/api/websocket", 0, json.dumps(hello))
        await self._ws.send_json({"type": "auth", "access_token": self._token})
        answer = await self._ws.receive_json()
        if answer.get("type") != "auth_ok":
            raise HomeAssistantApiError("WS", "/api/websocket", 401, json.dumps(answer))

    async def __aexit__(self, *exc_info: object) -> None:
        """Disconnect."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._ws is not None:
            await self._ws.close()
        await self._session.close()

    async def _read(self) -> None:
        import aiohttp

        try:
            async for message in self._ws:
                received = time.perf_counter()
                if message.type is not aiohttp.WSMsgType.TEXT:
                    break
                payload = json.loads(message.data)
                for item in payload if isinstance(payload, list) else [payload]:
                    self._dispatch(received, item)
        finally:
            error = ConnectionError("websocket closed")
            for future in self._results.values():
                if not future.done():
                    future.set_exception(error)

    def _dispatch(self, received: float, item: dict[str, Any]) -> None:
        if item.get("type") == "event":
            if (callback := self._subscriptions.get(item["id"])) is not None:
                callback(received, item["event"])
            return
        future = self._results.pop(item.get("id", -1), None)
        if future is None or future.done():
            return
        if item.get("success", True):
            future.set_result(item.get("result"))
        else:
            future.set_exception(
                HomeAssistantApiError("WS", str(item.get("id")), 0, json.dumps(item["error"]))
            )

    async def command(self, command_type: str, **fields: Any) -> Any:
        """Send a command and return its result (raises on an error answer).

        Wrap it in ``asyncio.timeout()`` to bound the wait.
        """
        message_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._results[message_id] = future
        await self._ws.send_json({"id": message_id, "type": command_type, **fields})
        return await future

    async def subscribe_events(self, callback: EventCallback, event_type: str | None = None) -> int:
        """Call ``callback`` for every event (of ``event_type``); return the subscription id."""
        message_id = self._next_id
        self._subscriptions[message_id] = callback
        fields = {"event_type": event_type} if event_type else {}
        await self.command("subscribe_events", **fields)
        return message_id

    async def rest(self, method: str, path: str, payload: Mapping[str, Any] | None = None) -> Any:
        """Call the REST API with the same session and token; return the decoded answer."""
        async with self._session.request(
            method,
            self._base_url + path,
            json=payload,
            headers={"Authorization": f"Bearer {self._token}"},
        ) as response:
            body = await response.text()
            if response.status >= 400:
                raise HomeAssistantApiError(method, path, response.status, body)
        return json.loads(body) if body else None

    async def entity_registry(self) -> list[dict[str, Any]]:
        """All entries of the entity registry (``entity_id``, ``unique_id``, ``platform``, …)."""
        return await self.command("config/entity_registry/list")


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv: list[str] | None = None) -> int:
    """Command line: ``wait`` or ``onboard``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8123", help="Home Assistant's URL")
    sub = parser.add_subparsers(dest="command", required=True)
    wait = sub.add_parser("wait", help="wait until the HTTP server answers")
    wait.add_argument("--timeout", type=float, default=300.0)
    wait.add_argument("--pid", type=int, help="give up when this process (Home Assistant) ends")
    onboard = sub.add_parser("onboard", help="create the owner account if there is none yet")
    onboard.add_argument("--username", required=True)
    onboard.add_argument("--password", required=True)
    onboard.add_argument("--name", default="Developer")
    onboard.add_argument("--language", default="en")
    args = parser.parse_args(argv)

    client = HomeAssistantClient(args.url)
    try:
        if args.command == "wait":
            client.wait_until_up(args.timeout, pid=args.pid)
        else:
            try:
                client.onboard(args.username, args.password, args.name, args.language)
            except HomeAssistantApiError as err:
                if err.status != 403:  # 403: the user step is done already
                    raise
                print("Home Assistant already has its owner account; no user created.")
            else:
                print(f"Created the user {args.username!r} (password {args.password!r}).")
    except (OSError, RuntimeError, TimeoutError, HomeAssistantApiError) as err:
        print(f"ha_client: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
