"""The gateway: Knative's ingress + activator + queue-proxy in one aiohttp server.

Per request: route by Host, read the affinity cookie, take a replica slot
(waiting in the service's FIFO queue, poking the autoscaler when no replica is
ready), forward over the keep-alive pool, relay the response, give the slot
back. `timeoutSeconds` bounds all of it. Progress/interrupt/skip take no slot.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from sdserve.gateway import admin, affinity, browser, headers
from sdserve.gateway.access_log import AccessRecord, emit
from sdserve.gateway.breaker import Breaker, QueueFull
from sdserve.gateway.concurrency import ConcurrencyMeter
from sdserve.gateway.routing import HostRouter
from sdserve.gateway.stats import RequestStats
from sdserve.gateway.upstream import (
    BUFFER_LIMIT,
    RequestBody,
    Upstream,
    UpstreamFailed,
    UpstreamUnavailable,
    read_body,
)
from sdserve.gateway.views import ReplicaView, ServiceView
from sdserve.runtime.replica import STANDBY_DISABLED, Replica, ReplicaState, StandbySnapshot
from sdserve.spec import ServiceSpec

log = logging.getLogger("sdserve.gateway")

# Calls about a running job: they must not wait behind that job for a slot.
UNTHROTTLED: frozenset[tuple[str, str]] = frozenset(
    {("GET", "/sdapi/v1/progress"), ("POST", "/sdapi/v1/interrupt"), ("POST", "/sdapi/v1/skip")}
)
# Calls that make images: a replica's whole answer (2xx) to one counts as served.
GENERATION: frozenset[tuple[str, str]] = frozenset(
    {("POST", "/sdapi/v1/txt2img"), ("POST", "/sdapi/v1/img2img")}
)
RETRY_AFTER_SECONDS = 1
# Status logged and counted for a client that left before its answer (nginx's).
CLIENT_CLOSED = 499


class ScaleStatus(Protocol):
    """What the gateway reads from the autoscaler (for /-/status and /-/metrics)."""

    def status(self, service: str) -> Mapping[str, Any]: ...


@dataclass
class _Service:
    spec: ServiceSpec
    host: str
    breaker: Breaker
    meter: ConcurrencyMeter
    stats: RequestStats = field(default_factory=RequestStats)
    replicas: dict[str, Replica] = field(default_factory=dict)
    images_served: dict[str, int] = field(default_factory=dict)  # per replica id


@dataclass
class _Exchange:
    """One request's bookkeeping while it passes through."""

    record: AccessRecord
    started: float
    prepared: web.StreamResponse | None = None  # headers already sent to the client
    from_app: bool = False
    cut: bool = False  # the client's connection was aborted mid-answer


class Gateway:
    def __init__(
        self,
        services: Sequence[ServiceSpec],
        *,
        domain: str = "example.com",
        secret: bytes,
        poke: Callable[[str], None],
        scale_status: ScaleStatus,
        standby: Callable[[str], StandbySnapshot] = lambda service: STANDBY_DISABLED,
        queue_limit: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if not secret:
            raise ValueError("secret: must not be empty (it signs the affinity cookies)")
        self._router = HostRouter(services, domain=domain)
        self._secret = secret
        self._poke = poke
        self._scale_status = scale_status
        self._standby = standby  # per service, what the runtime says of its warm standby
        self._clock = clock
        now = clock()
        self._services = {
            spec.name: _Service(
                spec=spec,
                host=spec.host(domain),
                breaker=Breaker(spec.container_concurrency, queue_limit=queue_limit, rng=rng),
                meter=ConcurrencyMeter(now),
            )
            for spec in services
        }
        self._replica_service: dict[str, _Service] = {}
        self._upstream = Upstream()
        self._background: set[asyncio.Task[None]] = set()

    # -- the contract -----------------------------------------------------------

    def update_replica(self, replica: Replica) -> None:
        service = self._services.get(replica.service)
        if service is None:
            log.warning("replica %s of unknown service %r ignored", replica.id, replica.service)
            return
        if replica.state is ReplicaState.STOPPED:
            service.replicas.pop(replica.id, None)
            service.images_served.pop(replica.id, None)
            self._replica_service.pop(replica.id, None)
            service.breaker.remove(replica.id)
            return
        service.replicas[replica.id] = replica
        self._replica_service[replica.id] = service
        service.breaker.set_ready(replica.id, replica.state is ReplicaState.READY)

    def in_flight(self, replica_id: str) -> int:
        service = self._replica_service.get(replica_id)
        return 0 if service is None else service.breaker.in_flight(replica_id)

    def concurrency(self, service: str, now: float) -> float:
        return self._services[service].meter.average(now)

    def app(self) -> web.Application:
        """The data path plus /-/ admin paths. More admin paths (/-/dashboard) may be
        added to the returned app: aiohttp resolves the longest matching prefix
        first, so they win over the catch-alls below."""
        app = web.Application(handler_args={"max_field_size": 16384})
        app.add_routes(admin.routes(self.views, self._clock))
        app.add_routes(browser.routes())
        app.router.add_route("*", "/-/{tail:.*}", admin.not_found)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    def views(self) -> list[ServiceView]:
        return [
            ServiceView(
                spec=s.spec,
                host=s.host,
                replicas=tuple(
                    ReplicaView(r, s.breaker.in_flight(r.id), s.images_served.get(r.id, 0))
                    for r in s.replicas.values()
                ),
                queue=s.breaker.queued,
                concurrency=s.meter.level,
                scale=self._scale_of(s.spec.name),
                stats=s.stats,
                standby=self._standby(s.spec.name),
            )
            for s in self._services.values()
        ]

    # -- lifecycle -------------------------------------------------------------

    async def _start(self, app: web.Application) -> None:
        await self._upstream.start()

    async def _stop(self, app: web.Application) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self._upstream.close()

    # -- the data path ------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        exchange = _Exchange(
            AccessRecord(
                request_id=headers.request_id(request.headers),
                method=request.method,
                path=request.path,
                host=request.host,
            ),
            started=self._clock(),
        )
        service = self._services_by_host(request.host)
        response: web.StreamResponse | None = None
        try:
            if service is None:
                response = _error(404, f"Host: no service at {request.host!r}", exchange)
            else:
                exchange.record.service = service.spec.name
                response = await self._serve(request, service, exchange)
            return response
        finally:
            self._finish(service, exchange, response)

    def _services_by_host(self, host: str) -> _Service | None:
        spec = self._router.route(host)
        return None if spec is None else self._services[spec.name]

    async def _serve(
        self, request: web.Request, service: _Service, exchange: _Exchange
    ) -> web.StreamResponse:
        spec = service.spec
        pinned = self._cookie_replica(request, service)
        unthrottled = (request.method, request.path) in UNTHROTTLED
        try:
            async with asyncio.timeout(spec.timeout_seconds):
                if unthrottled:
                    return await self._pass_through(request, service, pinned, exchange)
                return await self._throttled(request, service, pinned, exchange)
        except TimeoutError:
            if exchange.prepared is not None:
                return _abort(request, exchange.prepared, exchange)
            message = f"timeoutSeconds: no answer within {spec.timeout_seconds:g} s"
            return _error(504, message, exchange, self._cookie(service, pinned))
        except QueueFull as error:
            response = _error(503, str(error), exchange, self._cookie(service, pinned))
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response

    async def _throttled(
        self, request: web.Request, service: _Service, pinned: str | None, exchange: _Exchange
    ) -> web.StreamResponse:
        body = await read_body(request.content) if request.body_exists else None
        service.meter.change(+1, self._clock())
        try:
            if service.breaker.ready_count == 0:
                # Scale from zero now, not at the autoscaler's next tick.
                self._poke(service.spec.name)
            failed: list[str] = []
            while True:
                queued_at = self._clock()
                replica_id = await service.breaker.acquire(pinned=pinned, exclude=failed)
                exchange.record.queued_ms += (self._clock() - queued_at) * 1000
                try:
                    return await self._forward(request, service, replica_id, body, exchange)
                except UpstreamUnavailable as error:
                    retriable = not failed and (body is None or body.replayable)
                    log.warning("replica %s unavailable for %s: %s%s", replica_id,
                                exchange.record.request_id, error,
                                "; retrying on another" if retriable else "")
                    if not retriable:
                        return _error(502, f"replica unavailable: {error}", exchange)
                    failed.append(replica_id)
                    pinned = None
                    exchange.record.retried = True
                finally:
                    service.breaker.release(replica_id)
        finally:
            service.meter.change(-1, self._clock())

    async def _pass_through(
        self, request: web.Request, service: _Service, pinned: str | None, exchange: _Exchange
    ) -> web.StreamResponse:
        replica_id = pinned or service.breaker.least_loaded_ready()
        if replica_id is None:
            response = _error(503, "no replica is running a job", exchange)
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        body = await read_body(request.content) if request.body_exists else None
        try:
            return await self._forward(request, service, replica_id, body, exchange)
        except UpstreamUnavailable as error:
            return _error(502, f"replica unavailable: {error}", exchange)

    async def _forward(
        self,
        request: web.Request,
        service: _Service,
        replica_id: str,
        body: RequestBody | None,
        exchange: _Exchange,
    ) -> web.StreamResponse:
        replica = service.replicas[replica_id]
        exchange.record.replica = replica_id
        upstream_headers = headers.upstream_request_headers(
            request.headers,
            request_id=exchange.record.request_id,
            client_ip=request.remote,
            scheme=request.scheme,
        )
        try:
            upstream = await self._upstream.send(
                replica.url, request.method, request.path_qs, upstream_headers, body
            )
        except UpstreamFailed as error:
            return _error(502, f"replica answered badly: {error}", exchange)
        except asyncio.CancelledError:
            # The client left or the deadline passed while the replica works on it.
            self._interrupt_abandoned(service, replica, exchange)
            raise
        try:
            exchange.from_app = True
            out_headers = headers.client_response_headers(
                upstream.headers, request_id=exchange.record.request_id
            )
            cookie = self._cookie(service, replica_id)
            if cookie:
                out_headers.add("Set-Cookie", cookie)
            length = upstream.content_length
            if length is not None and length <= BUFFER_LIMIT:
                data = await upstream.read()
                del out_headers["Content-Length"]
                return web.Response(
                    status=upstream.status, reason=upstream.reason, body=data, headers=out_headers
                )
            return await self._stream(request, upstream, out_headers, exchange)
        finally:
            upstream.release()

    async def _stream(
        self,
        request: web.Request,
        upstream: aiohttp.ClientResponse,
        out_headers: CIMultiDict[str],
        exchange: _Exchange,
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            status=upstream.status, reason=upstream.reason, headers=out_headers
        )
        await response.prepare(request)
        exchange.prepared = response
        try:
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
        except (OSError, RuntimeError, ValueError, asyncio.IncompleteReadError) as error:
            # aiohttp's payload errors derive from these; the client must not
            # mistake a cut body for a whole one.
            log.warning("stream of %s broken: %s", exchange.record.request_id, error)
            return _abort(request, response, exchange)
        await response.write_eof()
        return response

    # -- helpers --------------------------------------------------------------

    def _interrupt_abandoned(
        self, service: _Service, replica: Replica, exchange: _Exchange
    ) -> None:
        # A1111's interrupt stops whatever job runs on the replica; only with one
        # slot per replica is that job certainly the abandoned one.
        if service.spec.container_concurrency != 1:
            return
        task = asyncio.get_running_loop().create_task(
            self._upstream.interrupt(replica.url, exchange.record.request_id)
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _cookie_replica(self, request: web.Request, service: _Service) -> str | None:
        """The live replica a valid affinity cookie names; anything else is ignored."""
        settings = service.spec.affinity
        if settings is None:
            return None
        value = request.cookies.get(settings.cookie_name)
        if not value:
            return None
        replica_id = affinity.verify(value, service=service.spec.name, secret=self._secret)
        if replica_id is None or not service.breaker.is_live(replica_id):
            return None
        return replica_id

    def _cookie(self, service: _Service, replica_id: str | None) -> str | None:
        settings = service.spec.affinity
        if settings is None or replica_id is None:
            return None
        value = affinity.sign(replica_id, service=service.spec.name, secret=self._secret)
        return affinity.set_cookie_header(value, settings)

    def _scale_of(self, name: str) -> Mapping[str, Any]:
        try:
            return self._scale_status.status(name)
        except Exception:  # the autoscaler's fault must not take /-/status down
            log.exception("scale status of %s", name)
            return {}

    def _finish(
        self,
        service: _Service | None,
        exchange: _Exchange,
        response: web.StreamResponse | None,
    ) -> None:
        record = exchange.record
        record.status = CLIENT_CLOSED if response is None else response.status
        record.duration_ms = (self._clock() - exchange.started) * 1000
        if service is not None:
            service.stats.record(record.status, record.duration_ms, from_app=exchange.from_app)
            if _served_images(exchange) and record.replica is not None:
                served = service.images_served
                served[record.replica] = served.get(record.replica, 0) + 1
        emit(record)


def _served_images(exchange: _Exchange) -> bool:
    """A generation call the replica answered 2xx, delivered whole to the client."""
    record = exchange.record
    return (
        exchange.from_app
        and not exchange.cut
        and 200 <= record.status < 300
        and (record.method, record.path) in GENERATION
    )


def _error(
    status: int, message: str, exchange: _Exchange, cookie: str | None = None
) -> web.Response:
    response = web.json_response(
        {"error": HTTPStatus(status).phrase, "detail": message}, status=status
    )
    response.headers[headers.REQUEST_ID] = exchange.record.request_id
    if cookie:
        response.headers.add("Set-Cookie", cookie)
    exchange.from_app = False
    return response


def _abort(
    request: web.Request, response: web.StreamResponse, exchange: _Exchange
) -> web.StreamResponse:
    """Cuts the client's connection: its response has started and cannot end well."""
    exchange.cut = True
    if request.transport is not None:
        request.transport.abort()
    return response
