"""Where the station link and the embedded broker run under `enerlectra serve`.

MQTT_URL set: the stations' broker is there (Mosquitto in production). Unset: serve starts the embedded amqtt
broker on 127.0.0.1:MQTT_PORT (default 1883; when MQTT_PORT is not set and 1883 is taken -- this machine runs a
Mosquitto there -- a free port, said in the log and written to HOME/mqtt.url for the fake fleet to find).

One process (`--workers 1`): the broker and the subscribing link run in the web process's loop (cleanup_ctx).
Several (`--workers N`): a child of the supervisor of its own, "station link", runs the broker and the one
subscriber; web processes hold a publisher-only link. Why not the parent, nor worker 0: the parent runs no
event loop (it only watches children), and a web process that dies is forked again, so the subscriber
and the broker would die and come back with web traffic; a child of their own is restarted on its own,
stations' messages never wait behind USSD hops, and there is exactly one subscriber whatever N is.
"""
from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import nullcontext
from pathlib import Path

from enerlectra.domain.stations.hooks import NO_HOOKS, StationHooks
from enerlectra.embedded_mqtt import embedded_broker
from enerlectra.ports import bindable, free_port
from enerlectra.settings import Settings

log = logging.getLogger("enerlectra")
HOST = "127.0.0.1"


def plan_broker(settings: Settings, port_set: bool) -> tuple[Settings, bool]:
    """(settings with mqtt_url, whether serve must start the embedded broker). `port_set`: MQTT_PORT was given."""
    if settings.mqtt_url:
        from ussd_app.station_link import check_url

        try:
            check_url(settings.mqtt_url)
        except ValueError as exc:
            raise SystemExit(f"enerlectra: {exc}") from None
        return settings, False
    port = settings.mqtt_port
    if not bindable(port):
        if port_set:
            raise SystemExit(f"enerlectra: MQTT_PORT {port} is in use; set MQTT_URL to use the broker there, "
                             f"or another MQTT_PORT")
        port = free_port()
        # INFO, not WARNING: embedded mode is for development, and the "stations:" line names the port taken
        log.info("port %s is taken (a Mosquitto? set MQTT_URL to use it): the embedded MQTT broker takes %s",
                 settings.mqtt_port, port)
    url = f"mqtt://{HOST}:{port}"
    remember(settings.home, url)
    return settings.with_(mqtt_url=url, mqtt_port=port), True


def remember(home: Path, url: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "mqtt.url").write_text(url + "\n")


def broker_ctx(settings: Settings):
    """The embedded broker in a web app's cleanup_ctx (put it before the link's)."""
    async def ctx(app):
        async with embedded_broker(HOST, settings.mqtt_port):
            log.info("embedded MQTT broker: %s (stations connect here)", settings.mqtt_url)
            yield
    return ctx


def run_link_process(settings: Settings, embedded: bool, hooks: StationHooks = NO_HOOKS) -> None:
    """A child's life under `serve --workers N`: the broker (embedded mode) and the one subscribing link.
    Its units of work hand follow-ups (what `hooks` record: SMS ...) to the job queues, as the web app's do."""
    from enerlectra.db.engine import Timeouts, make_engine, make_sessionmaker
    from enerlectra.domain.work import with_jobs
    from enerlectra.jobs import Dispatcher, make_queues, redis_client
    from ussd_app.station_link import StationLink

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for s in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(s, stop.set)
        engine = make_engine(settings.effective_database_url, schema=settings.database_schema,
                             timeouts=Timeouts.from_settings(settings))
        enqueuer = redis_client(settings.redis_url) if settings.redis_url else None
        jobs = Dispatcher(make_queues(enqueuer, settings.queue_name) if enqueuer else None)
        try:
            async with _maybe_broker(settings, embedded):
                link = StationLink(settings, with_jobs(make_sessionmaker(engine), jobs), hooks=hooks, subscribe=True)
                task = asyncio.create_task(link.run())
                await stop.wait()
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        finally:
            await engine.dispose()
            if enqueuer is not None:
                enqueuer.close()
    asyncio.run(main())


def _maybe_broker(settings: Settings, embedded: bool):
    if not embedded:
        return nullcontext()
    log.info("embedded MQTT broker: %s (stations connect here)", settings.mqtt_url)
    return embedded_broker(HOST, settings.mqtt_port)
