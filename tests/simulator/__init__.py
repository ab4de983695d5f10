"""Tests of the KEBA station simulator (plain pytest + asyncio, no Home Assistant)."""
