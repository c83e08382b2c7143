"""The scaled topology on one machine: N gateway workers, N Rasa replicas, N action servers.

``python -m bot.run --scale N`` starts it on the local PostgreSQL and Redis
(docs/scaling.md): every gateway worker shares the care store (database
``care_scale``), every Rasa replica the tracker store (``care_scale_rasa``)
and the Redis lock store, and the gateways reach the replicas through one
URL, a balancer (bot/balancer.py) standing in for a cluster's load balancer.

Ports come from one base (``--base-port``, default 8000), printed at start:

    gateway i        base + i
    Rasa (balancer)  base + 100
    Rasa replica i   base + 101 + i
    action server i  base + 200 + i
    gateway i's Prometheus /metrics  base + 300 + i

The servers are the same processes as one-machine ``python -m bot.run``
(bot/launch.py); only their environment and endpoints file differ.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.brand import PROJECT_ROOT
from bot.launch import (
    LOG_DIR,
    RUN_DIR,
    Service,
    Stop,
    StopSignals,
    assistant_services,
    stop_all,
    write_endpoints,
)
from bot.model import rasa_env
from bot.store.db import make_engine, migrate

SCALEOUT_ENDPOINTS = PROJECT_ROOT / "endpoints.scaleout.yml"
#: The server (no database) the care store and the tracker store live on.
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Topology:
    """How many of each process, and their ports."""

    scale: int
    base_port: int = 8000

    def __post_init__(self) -> None:
        if not 1 <= self.scale <= 50:
            raise ValueError("--scale must be between 1 and 50")

    def gateway_port(self, i: int) -> int:
        return self.base_port + i

    @property
    def rasa_port(self) -> int:
        """The balancer in front of the replicas: the one Rasa URL the gateways use."""
        return self.base_port + 100

    def replica_port(self, i: int) -> int:
        return self.base_port + 101 + i

    def actions_port(self, i: int) -> int:
        return self.base_port + 200 + i

    def metrics_port(self, i: int) -> int:
        """Each gateway worker's Prometheus endpoint (bot/analytics/live.py): one port each."""
        return self.base_port + 300 + i

    def table(self) -> str:
        """The ports, for the terminal."""
        rows = [f"  Rasa (balancer)   http://127.0.0.1:{self.rasa_port}"]
        for i in range(self.scale):
            rows.append(f"  gateway {i}         http://127.0.0.1:{self.gateway_port(i)}")
            rows.append(f"  Rasa replica {i}    http://127.0.0.1:{self.replica_port(i)}")
            rows.append(f"  action server {i}   http://127.0.0.1:{self.actions_port(i)}")
            rows.append(f"  metrics {i}         http://127.0.0.1:{self.metrics_port(i)}/metrics")
        return "\n".join(rows)


@dataclass(frozen=True)
class SharedStores:
    """Where the shared state lives: PostgreSQL (care store, trackers) and Redis (locks)."""

    postgres: str = DEFAULT_POSTGRES
    care_db: str = "care_scale"
    tracker_db: str = "care_scale_rasa"
    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    redis_db: int = 1
    redis_password: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SharedStores:
        """``SCALE_POSTGRES_URL``, ``SCALE_CARE_DB``, ``SCALE_TRACKER_DB``, ``SCALE_REDIS_HOST``,
        ``SCALE_REDIS_PORT``, ``SCALE_REDIS_DB``, ``SCALE_REDIS_PASSWORD`` over the defaults."""
        d = cls()
        return cls(
            postgres=env.get("SCALE_POSTGRES_URL") or d.postgres,
            care_db=env.get("SCALE_CARE_DB") or d.care_db,
            tracker_db=env.get("SCALE_TRACKER_DB") or d.tracker_db,
            redis_host=env.get("SCALE_REDIS_HOST") or d.redis_host,
            redis_port=int(env.get("SCALE_REDIS_PORT") or d.redis_port),
            redis_db=int(env.get("SCALE_REDIS_DB") or d.redis_db),
            redis_password=env.get("SCALE_REDIS_PASSWORD") or d.redis_password,
        )

    @property
    def care_url(self) -> str:
        """The care store all gateway workers share."""
        return make_url(self.postgres).set(database=self.care_db).render_as_string(False)

    def rasa_env(self) -> dict[str, str]:
        """The variables endpoints.scaleout.yml reads."""
        url = make_url(self.postgres)
        return {
            "TRACKER_DB_HOST": url.host or "127.0.0.1",
            "TRACKER_DB_PORT": str(url.port or 5432),
            "TRACKER_DB_USER": url.username or "postgres",
            "TRACKER_DB_PASSWORD": url.password or "",
            "TRACKER_DB_NAME": self.tracker_db,
            "TRACKER_DB_LOGIN_DB": url.database or "postgres",
            "LOCK_REDIS_HOST": self.redis_host,
            "LOCK_REDIS_PORT": str(self.redis_port),
            "LOCK_REDIS_PASSWORD": self.redis_password,
            "LOCK_REDIS_DB": str(self.redis_db),
        }

    def prepare(self) -> None:
        """Creates the two databases when missing and migrates the care store, once,
        before any worker starts (workers migrating at once would race)."""
        admin = create_engine(self.postgres, future=True, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                for name in (self.care_db, self.tracker_db):
                    exists = connection.execute(
                        text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
                    ).first()
                    if exists is None:
                        # A name cannot be a bound parameter; it comes from our own settings.
                        connection.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        engine = make_engine(self.care_url)
        try:
            migrate(engine)
        finally:
            engine.dispose()
        self._tracker_tables()

    def _tracker_tables(self) -> None:
        """Rasa's tracker table, made by Rasa's own store class once, in a short-lived
        process (importing Rasa here would keep TensorFlow in the launcher): replicas
        starting together would each create it, and all but one fail."""
        env = self.rasa_env()
        script = (
            "import os; from rasa.core.tracker_store import SQLTrackerStore as S; e = os.environ; "
            "S(None, dialect='postgresql', host=e['TRACKER_DB_HOST'], "
            "port=e['TRACKER_DB_PORT'], db=e['TRACKER_DB_NAME'], "
            "username=e['TRACKER_DB_USER'], password=e['TRACKER_DB_PASSWORD'], "
            "login_db=e['TRACKER_DB_LOGIN_DB'])"
        )
        subprocess.run(
            [sys.executable, "-c", script],
            env={**rasa_env(), **env},
            check=True,
            capture_output=True,
            timeout=300,
        )


def services(
    topology: Topology,
    stores: SharedStores,
    *,
    model: Path | None = None,
    env: Mapping[str, str] | None = None,
    log_dir: Path = LOG_DIR,
    run_dir: Path = RUN_DIR,
) -> list[Service]:
    """Every process of the topology, in start order: action servers and Rasa replicas,
    the balancer, the gateway workers (``env`` is added to each one's environment)."""
    extra = dict(env or {})
    rasa_env = {**stores.rasa_env(), **extra}
    started: list[Service] = []
    for i in range(topology.scale):
        actions = topology.actions_port(i)
        endpoints = write_endpoints(
            actions, source=SCALEOUT_ENDPOINTS, target=run_dir / f"endpoints-{i}.yml"
        )
        options = {"model": model} if model is not None else {}
        started += assistant_services(
            topology.replica_port(i),
            actions,
            endpoints,
            env={**rasa_env, "ACTION_SERVER_URL": f"http://127.0.0.1:{actions}"},
            log_dir=log_dir,
            prefix=f"{i}-",
            interface="127.0.0.1",
            **options,
        )
    started.append(balancer(topology, log_dir))
    started += gateways(topology, stores.care_url, extra, log_dir)
    return started


def balancer(topology: Topology, log_dir: Path = LOG_DIR) -> Service:
    """The balancer in front of the Rasa replicas."""
    upstreams = [f"127.0.0.1:{topology.replica_port(i)}" for i in range(topology.scale)]
    return Service(
        "rasa-balancer",
        [sys.executable, "-m", "bot.balancer", "--port", str(topology.rasa_port)]
        + [arg for upstream in upstreams for arg in ("--upstream", upstream)],
        f"http://127.0.0.1:{topology.rasa_port}/webhooks/care/",
        log_dir=log_dir,
    )


def gateways(
    topology: Topology,
    care_url: str,
    env: Mapping[str, str] | None = None,
    log_dir: Path = LOG_DIR,
    rasa_url: str | None = None,
) -> list[Service]:
    """The gateway workers, sharing ``care_url``, each with its own worker id and port;
    the channels' credentials come from ``.env`` as for one worker."""
    return [
        Service(
            f"gateway-{i}",
            [sys.executable, "-m", "bot.gateway"],
            f"http://127.0.0.1:{topology.gateway_port(i)}/healthz",
            env={
                "CARE_DATABASE_URL": care_url,
                "RASA_URL": rasa_url or f"http://127.0.0.1:{topology.rasa_port}",
                # Worker i checks action server i in its health checks (any would do).
                "ACTION_SERVER_URL": f"http://127.0.0.1:{topology.actions_port(i)}",
                "GATEWAY_PORT": str(topology.gateway_port(i)),
                "GATEWAY_METRICS_PORT": str(topology.metrics_port(i)),
                "GATEWAY_WORKER_ID": f"gw-{os.uname().nodename}-{i}",
                **(env or {}),
            },
            log_dir=log_dir,
        )
        for i in range(topology.scale)
    ]


def run(scale: int, base_port: int, model: Path | None = None) -> None:
    """``python -m bot.run --scale N``: prepares the stores, starts everything, runs until
    Ctrl-C, SIGTERM or SIGHUP (bot/launch.py: the same stop as one-machine ``bot.run``)."""
    from bot.run import wait_for_exit

    topology = Topology(scale, base_port)
    stores = SharedStores.from_env(os.environ)
    try:
        stores.prepare()
    except Exception as error:  # the database is not there: say what to start
        raise SystemExit(
            f"PostgreSQL at {stores.postgres} is not usable ({type(error).__name__}: {error}); "
            "start it or set SCALE_POSTGRES_URL"
        ) from None
    shown = make_url(stores.care_url).render_as_string(hide_password=True)
    print(
        f"scale {scale}: care store {shown}, trackers {stores.tracker_db}, "
        f"locks redis://{stores.redis_host}:{stores.redis_port}/{stores.redis_db}"
    )
    print(topology.table(), flush=True)
    everything = services(topology, stores, model=model)
    started: list[Service] = []
    stop_signals = StopSignals()
    stop_signals.install()
    try:
        for service in everything:
            print(f"starting {service.name}... (log: {service.log})", flush=True)
            with stop_signals.held():
                service.start()
                started.append(service)
        for service in started:
            service.wait_ready()
        print(
            f"\nChat with the bot: http://127.0.0.1:{topology.gateway_port(0)}/ (any gateway "
            "port works; Ctrl-C or SIGTERM stops everything)",
            flush=True,
        )
        wait_for_exit(started)
    except Stop as stop:
        print(f"\n{stop}: stopping...")
    finally:
        stop_all(started)


def main() -> None:
    """``python -m bot.scaleout --migrate``: brings ``CARE_DATABASE_URL``'s schema up to date,
    once, before the gateway workers start (deploy/: the compose file's ``migrate``
    service, the Kubernetes Job)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--migrate", action="store_true", required=True)
    parser.parse_args()
    url = os.environ.get("CARE_DATABASE_URL")
    if not url:
        raise SystemExit("set CARE_DATABASE_URL to the care store to migrate")
    engine = make_engine(url)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    print(f"migrated {make_url(url).render_as_string(hide_password=True)}")


if __name__ == "__main__":
    main()
