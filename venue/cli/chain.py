"""``ccp chain …``: deploy the contracts, fund test accounts.

* ``ccp chain deploy [--rpc URL] [--pairs WETH/USDC,WBTC/USDC] [--out FILE]`` deploys FundLock,
  one Ledger per pair and, on local chains, a test token per currency; registers the Ledgers and
  the operator; prints the addresses as JSON. Without ``--rpc`` it deploys on a fresh in-process
  EVM (a dry run: that chain ends with the command). On a non-local chain the signing keys come
  from ``$CCP_CHAIN_ADMIN_KEY`` / ``$CCP_CHAIN_OPERATOR_KEY`` and ``--token SYMBOL=ADDRESS``.
* ``ccp chain faucet ADDRESS AMOUNT TOKEN --rpc URL [--deployment FILE]`` mints AMOUNT (token
  units, e.g. ``1000.5``) of TOKEN (a symbol listed in the deployment file, or an address) to
  ADDRESS on a local chain, plus 10 ETH for gas when it has less than 1.
* ``ccp chain reconcile [--db URL] [--rpc URL] [--deployment FILE] [--json]`` compares, at the
  chain monitor's edge, every client's FundLock balance with the store's ``fundLockValue`` (to
  the base unit), the clearing house's collateral, and every Ledger position with the store's
  (``coordinator.settling.reconcile_store``). Exit 0 clean, 1 on a difference or a movement in
  SETTLE_FAILED, 2 bad input. Writes nothing.
* ``ccp chain retry [BACKEND_ID …] [--reason TEXT] [--actor NAME] [--db URL]`` asks the
  settlement process to resubmit batches the Ledger reverted (once their cause is fixed), each
  once, with the same backendId (``coordinator.persistence.retries``); without an id it lists
  the reverted batches and the retries asked for. Writes only the request (the settlement
  process is the only signer); exit 0, 2 bad input (unknown batch, not reverted).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from coordinator.scenarios import ScenarioError, read_json
from venue.cli import EXIT_OK, EXIT_VIOLATION, UsageError, problems_text
from venue.wiring import add_settings_options, open_store, settings_from, store_errors


def register(subparsers) -> None:
    p = subparsers.add_parser("chain", help="deploy contracts, fund test accounts")
    sub = p.add_subparsers(dest="chain_command", required=True, metavar="SUBCOMMAND")

    d = sub.add_parser("deploy", help="deploy FundLock, Ledgers (and test tokens locally)")
    d.add_argument("--rpc", metavar="URL", help="JSON-RPC node (default: in-process EVM)")
    d.add_argument("--pairs", default="WETH/USDC,WBTC/USDC",
                   help="comma-separated currency pairs, one Ledger each")
    d.add_argument("--token", action="append", default=[], metavar="SYMBOL=ADDRESS",
                   help="use an existing token (required for every currency off local chains)")
    d.add_argument("--out", type=Path, help="also write the JSON to this file")
    d.set_defaults(handler=_deploy)

    f = sub.add_parser("faucet", help="mint test tokens to an address (local chains)")
    f.add_argument("address", help="the address to fund (0x and 40 hex digits)")
    f.add_argument("amount", help="in token units, e.g. 1000 or 0.5")
    f.add_argument("token", help="symbol from the deployment file, or a token address")
    f.add_argument("--rpc", metavar="URL", help="JSON-RPC node of a local chain (required)")
    f.add_argument("--deployment", type=Path, help="the JSON printed by `ccp chain deploy`")
    f.set_defaults(handler=_faucet)

    r = sub.add_parser("reconcile", help="compare FundLock balances and Ledger positions on "
                       "chain with the store (exit 1 on a difference)")
    add_settings_options(r)
    r.add_argument("--rpc", metavar="URL", help="JSON-RPC node (default: chain_rpc_url)")
    r.add_argument("--deployment", type=Path,
                   help="the JSON printed by `ccp chain deploy` (default: chain_deployment)")
    r.add_argument("--json", action="store_true", help="print the report as JSON")
    r.set_defaults(handler=_reconcile)

    t = sub.add_parser("retry", help="resubmit reverted settlement batches (once each, by the "
                       "settlement process); without an id: list them")
    add_settings_options(t)
    t.add_argument("backend_ids", nargs="*", type=int, metavar="BACKEND_ID",
                   help="the batches to resubmit (see the list without an id)")
    t.add_argument("--reason", help="why it may be retried now (recorded)")
    t.add_argument("--actor", default=os.environ.get("USER") or "operator",
                   help="who asks (recorded; default $USER)")
    t.set_defaults(handler=_retry)


def _connect(url: str | None, keys: list[str] | None = None, *, read_only: bool = False):
    from settlement.chain import Chain
    from settlement.errors import ChainUnavailable, NotLocalChain

    if url is None:
        return Chain.in_process()
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--rpc {url!r}: expected an http(s):// URL")
    try:
        return Chain.connect(url, keys or (), read_only=read_only)
    except ChainUnavailable as e:
        raise UsageError(f"--rpc {url}: {e}") from None
    except NotLocalChain as e:
        raise UsageError(str(e)) from None


def _deploy(args: argparse.Namespace) -> int:
    from web3 import Web3

    from auction.products import DEFAULT_CURRENCIES, CurrencyPair
    from settlement.deploy import deploy
    from settlement.errors import SettlementError

    pairs = [p.strip() for p in args.pairs.split(",") if p.strip()]
    if not pairs:
        raise UsageError("--pairs: no currency pair given")
    for p in pairs:
        try:
            pair = CurrencyPair.parse(p)
        except ValueError as e:
            raise UsageError(f"--pairs: {e}") from None
        for sym in (pair.underlying, pair.numeraire):
            if sym not in DEFAULT_CURRENCIES:
                raise UsageError(f"--pairs {p}: unknown currency {sym} (known: "
                                 f"{', '.join(DEFAULT_CURRENCIES)})")
    tokens = {}
    for t in args.token:
        sym, sep, addr = t.partition("=")
        if not sep or not sym.strip():
            raise UsageError(f"--token {t!r}: expected SYMBOL=0xADDRESS")
        if not Web3.is_address(addr.strip()):
            raise UsageError(f"--token {t!r}: {addr.strip()!r} is not an Ethereum address "
                             "(0x and 40 hex digits; mixed case must be a valid checksum)")
        tokens[sym.strip().upper()] = Web3.to_checksum_address(addr.strip())
    keys = [k for k in (os.environ.get("CCP_CHAIN_ADMIN_KEY"),
                        os.environ.get("CCP_CHAIN_OPERATOR_KEY")) if k]
    chain = _connect(args.rpc, keys)
    try:
        dep = deploy(chain, pairs, tokens=tokens or None)
    except SettlementError as e:
        print(f"ccp chain deploy: {e}", file=sys.stderr)
        return EXIT_VIOLATION
    text = dep.to_json()
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return EXIT_OK


def _faucet(args: argparse.Namespace) -> int:
    from settlement.deploy import Deployment, faucet
    from settlement.errors import NotLocalChain, SettlementError

    if args.rpc is None:
        raise UsageError("faucet needs --rpc URL of a running local chain (the in-process EVM "
                         "lives only inside the process that started it)")
    dep = None
    if args.deployment is not None:
        try:
            dep = Deployment.from_dict(read_json(args.deployment))
        except ScenarioError as e:
            raise UsageError(problems_text(e.problems, f"{e.file}: ")) from None
        except (SettlementError, ValueError, TypeError, KeyError, AttributeError) as e:
            raise UsageError(f"{args.deployment}: not a deployment file ({e})") from None
    from web3 import Web3

    if not Web3.is_address(args.address):
        raise UsageError(f"address {args.address!r}: not an Ethereum address (0x and 40 hex "
                         "digits; mixed case must be a valid checksum)")
    from auction.units import parse_decimal

    try:  # the range of amounts (auction.units); the token's decimals are checked by faucet
        if parse_decimal(args.amount, "amount") <= 0:
            raise ValueError(f"amount {args.amount!r} must be positive")
    except ValueError as e:
        raise UsageError(str(e)) from None
    chain = _connect(args.rpc)
    try:
        result = faucet(chain, dep, args.address, args.amount, args.token)
    except ValueError as e:
        raise UsageError(str(e)) from None
    except NotLocalChain as e:
        raise UsageError(str(e)) from None
    except SettlementError as e:
        print(f"ccp chain faucet: {e}", file=sys.stderr)
        return EXIT_VIOLATION
    print(json.dumps(result, indent=2))
    return EXIT_OK


def _load_deployment(path: Path):
    from settlement.deploy import Deployment
    from settlement.errors import SettlementError

    try:
        return Deployment.from_dict(json.loads(path.read_text()))
    except (OSError, json.JSONDecodeError, SettlementError, AttributeError) as e:
        raise UsageError(f"{path}: {e}") from None


@store_errors
def _reconcile(args: argparse.Namespace) -> int:
    from coordinator.settling import SettlementSetupError, reconcile_store
    from settlement.errors import SettlementError

    settings = settings_from(args)
    url = args.rpc or settings.chain_rpc_url
    if not url:
        raise UsageError("no node: give --rpc URL or set chain_rpc_url")
    dep_path = args.deployment or (Path(settings.chain_deployment)
                                   if settings.chain_deployment else None)
    if dep_path is None:
        raise UsageError("no deployment: give --deployment FILE or set chain_deployment")
    dep = _load_deployment(dep_path)
    chain = _connect(url, read_only=True)
    if chain.chain_id != dep.chain_id:
        raise UsageError(f"the node at {url} is chain {chain.chain_id}, the deployment is for "
                         f"chain {dep.chain_id}")
    store = open_store(settings)
    try:
        rec = reconcile_store(store, chain, dep)
    except SettlementSetupError as e:
        raise UsageError(str(e)) from None
    except SettlementError as e:
        print(f"ccp chain reconcile: {e}", file=sys.stderr)
        return EXIT_VIOLATION
    finally:
        store.dispose()
    if args.json:
        print(json.dumps(rec.to_dict(), indent=2))
    else:
        for d in rec.differences:
            print(f"DIFFERENCE {d}")
        for key in rec.backlog.failed:
            print(f"FAILED movement {key} (SETTLE_FAILED: see its trackings)")
        b = rec.backlog
        state = "caught up" if b.caught_up else (f"{b.unsent} movement(s) not yet sent, "
                                                 f"{b.in_flight} in flight")
        verdict = "clean" if rec.clean else (f"{len(rec.differences)} difference(s), "
                                             f"{len(b.failed)} failed movement(s)")
        print(f"reconciled at block {rec.block}: {verdict}; settlement {state}")
    return EXIT_OK if rec.clean else EXIT_VIOLATION


@store_errors
def _retry(args: argparse.Namespace) -> int:
    from coordinator.clock import SystemClock
    from coordinator.persistence import retries as rt

    store = open_store(settings_from(args))
    try:
        if not args.backend_ids:
            with store.read() as tx:
                out = {"reverted": rt.reverted_batches(tx),
                       "retries": [r.to_dict() for r in rt.retries(tx)]}
            print(json.dumps(out, indent=2))
            return EXIT_OK
        now = SystemClock().now_ms()
        results = []
        with store.write() as tx:  # all or none
            for bid in args.backend_ids:
                try:
                    req, new = rt.request_retry(tx, bid, args.actor, args.reason, now)
                except rt.RetryRefused as e:
                    raise UsageError(str(e)) from None
                results.append({**req.to_dict(),
                                "status": "REQUESTED" if new else "ALREADY_REQUESTED"})
    finally:
        store.dispose()
    print(json.dumps(results, indent=2))
    print("the settlement process resubmits each batch once, with the same backendId; see "
          "`ccp chain retry` (no id) for the outcome", file=sys.stderr)
    return EXIT_OK
