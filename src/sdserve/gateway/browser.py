"""Paths browsers ask for on their own: the gateway answers them itself.

A browser opening the web UI or the dashboard asks for /favicon.ico; crawlers
ask for /robots.txt. Sent to a service, each would take a slot, queue, and wake
a service scaled to zero: a cold start nobody asked for.
"""

from __future__ import annotations

from aiohttp import web

# An inference API has nothing for crawlers.
ROBOTS_TXT = "User-agent: *\nDisallow: /\n"
# Browsers keep asking for a missing icon; a day's caching quiets them.
CACHE_A_DAY = "public, max-age=86400"


async def favicon(request: web.Request) -> web.Response:
    return web.Response(status=204, headers={"Cache-Control": CACHE_A_DAY})


async def robots(request: web.Request) -> web.Response:
    return web.Response(text=ROBOTS_TXT, headers={"Cache-Control": CACHE_A_DAY})


def routes() -> list[web.RouteDef]:
    return [web.get("/favicon.ico", favicon), web.get("/robots.txt", robots)]
