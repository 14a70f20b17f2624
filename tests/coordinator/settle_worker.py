"""The settlement process for the kill test: ``python -m tests.coordinator.settle_worker
DB_URL RPC_URL DEPLOYMENT_JSON [SETTING=VALUE ...]`` runs a SettlementRunner until SIGTERM."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading

from coordinator.clock import SystemClock
from coordinator.persistence import Store
from coordinator.settings import Settings
from coordinator.settling import SettlementRunner
from settlement.chain import Chain
from settlement.deploy import Deployment


def main(argv: list[str]) -> int:
    db_url, rpc, dep_path, *pairs = argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings = Settings.from_mapping(dict(p.split("=", 1) for p in pairs),
                                     base=Settings(database_url=db_url, chain_rpc_url=rpc))
    store = Store.open(db_url)
    chain = Chain.connect(rpc)
    with open(dep_path) as f:
        dep = Deployment.from_dict(json.load(f))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    SettlementRunner(store, settings, chain, dep, SystemClock()).run(stop)
    store.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
