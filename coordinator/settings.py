"""Coordinator settings: strict (unknown keys rejected), defaults in one place.

Precedence, lowest first: the defaults below → a config file (TOML or JSON; ``--config FILE`` or
``$CCP_CONFIG``) → environment variables ``CCP_<NAME>`` (e.g. ``CCP_DATABASE_URL``) → explicit
overrides (command-line options). A key the settings do not know is an error, in a file and in
an override; a value of the wrong type is an error naming the key and where it came from.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from solver_models.params import ParamsError, SolverParams

ENV_PREFIX = "CCP_"
CONFIG_ENV = "CCP_CONFIG"
MAX_SECONDS = 366 * 24 * 3600.0  # any duration setting: at most a year (finite, not NaN)


class SettingsError(ValueError):
    """A settings key that does not exist, or a value of the wrong type or range."""


@dataclass(frozen=True)
class Settings:
    """Everything the coordinator reads from its environment.

    * ``database_url`` — SQLAlchemy URL: ``sqlite:///path`` (the embedded default) or
      ``postgresql+psycopg://user@host:port/db``.
    * ``cadence_seconds`` — time between auction cut-offs (auction.md §6).
    * ``end_of_trading_hours`` — a contract stops trading this long before its expiry.
    * ``lease_seconds`` — how long the coordinator's lease lasts without renewal.
    * ``lease_wait`` — a second coordinator waits for the lease (true) or exits (false).
    * ``solver`` — solver parameters (``SolverParams`` keys, ``highs_options`` included),
      recorded with every batch; checked when the settings load (an unknown key or a bad value
      is a ``SettingsError`` naming the key and the file).
    * ``check_replication`` / ``check_bands`` — options of the independent check.
    * ``apply_retries`` — how often an auction is re-cut when its book changed under it.
    * ``outbox_poll_seconds`` — how often a publisher without LISTEN/NOTIFY polls.

    The venue's process roles (``ccp run``, ``ccp serve``; ``venue/``):

    * ``venue_host`` / ``venue_port`` — where ``ccp serve api`` listens (``--port`` overrides).
      The chain of ``ccp serve`` comes from the ``chain_…`` settings of settlement.

    Background (spot prices, expiry, keepers; ``docs/operations.md``):

    * ``price_sources`` — comma-separated spot sources: ``simulated`` (the embedded default),
      ``coinbase``, ``binance``, ``gemini``.
    * ``price_poll_seconds`` — time between two spot price rounds.
    * ``price_timeout_seconds`` — an HTTP source's answer must arrive within this.
    * ``price_retries`` — retries of a failed request (429, 5xx, timeout), with back-off.
    * ``price_backoff_seconds`` — first back-off; doubles on every retry.
    * ``price_staleness_seconds`` — a quote older than this is ignored.
    * ``price_deviation_percent`` — a quote further than this from the median is ignored.
    * ``price_quorum`` — quotes needed for a price (capped at the number of sources).
    * ``price_coinbase_url`` / ``price_binance_url`` / ``price_gemini_url`` — base URLs.
    * ``price_coinbase_symbols`` / ``price_binance_symbols`` / ``price_gemini_symbols`` —
      pair → the exchange's symbol.
    * ``price_simulated_seed`` / ``price_simulated_start`` (pair → start price) /
      ``price_simulated_step_percent`` (per-minute step) — the simulated random walk.
    * ``price_replay_file`` — a JSON replay file for the simulated source (``{pair:
      [[epoch_ms, "price"], ...]}``); empty: the random walk.
    * ``expiry_delay_minutes`` — the expiry job runs this long after 12:00 UTC.
    * ``expiry_poll_seconds`` — how often the expiry job and the readiness check run.
    * ``expiry_readiness_hours`` — buckets expiring within this are checked for readiness.
    * ``keeper_timeout_seconds`` — a webhook must answer within this.
    * ``keeper_retries`` — delivery attempts after the first, with back-off.
    * ``keeper_backoff_seconds`` — first back-off of a failed delivery; doubles each time.
    * ``keeper_poll_seconds`` — how often pending deliveries are sent.
    Settlement and the chain monitor (``chain_…``; docs/settlement.md):

    * ``chain_rpc_url`` — the JSON-RPC node (empty: the venue's embedded local chain).
    * ``chain_deployment`` — the deployment JSON written by ``ccp chain deploy``.
    * ``chain_operator_key`` — hex key that signs the Ledger batches (``CCP_CHAIN_OPERATOR_KEY``;
      empty: on a local dev chain, the development account named operator in the deployment).
    * ``chain_confirmations`` — blocks on top of a batch's block before SETTLE_CONFIRMED.
    * ``chain_finality_depth`` — how deep a confirmed batch is still watched for re-orgs.
    * ``chain_monitor_depth`` — the monitor reads events only this many blocks below the head
      (re-org-safe): deposits, withdrawals and applied batches reach the funds state then.
    * ``chain_poll_seconds`` — time between settlement rounds (submit, receipts, events).
    * ``chain_gas_budget`` — gas per batch transaction (movements are packed under it).
    * ``chain_stuck_after_seconds`` — a transaction pending this long is re-priced.
    * ``chain_fee_bump_percent`` — fee increase of a re-priced transaction (≥ 10).
    * ``chain_max_resubmissions`` — resubmissions of a dropped or re-orged batch.
    * ``chain_max_log_range`` — blocks per ``eth_getLogs`` query of the monitor.
    * ``chain_max_movements`` — cash movements taken per settlement round.
    * ``chain_mine_seconds`` — on a local dev chain only, mine an empty block this often
      (auto-mining nodes make blocks only for transactions, so confirmations would never come
      on an idle chain); 0 = never.
    Client API (``endpoint``; api.md):

    * ``api_admin_token`` — the bearer credential of the admin routes (``/api/v1/admin/…``);
      empty: the admin API answers 401 to everyone.
    * ``api_chain_id`` — the chainId of the Elektro EIP-712 domain (and of ``systemInfo`` when
      the venue supplies no chain).
    * ``api_domain_elektro`` / ``api_domain_ithaca`` / ``api_domain_version`` — the EIP-712
      domain names of the two dialects and their version.
    * ``api_wire_dialect`` — ``elektro`` (expiry ``yyyymmdd``) or ``ithaca`` (``yymmddHHM``):
      the expiry format the venue writes; it reads both.
    * ``api_nonce_seconds`` — a login nonce's lifetime; ``api_session_seconds`` — a session's.
    * ``api_https`` — the venue is served behind https (the session cookie gets ``Secure``).
    * ``api_max_body_bytes`` — the largest request body accepted.
    * ``api_max_batch_orders`` — the most orders of one ``newOrders`` request.
    * ``api_rate_per_client`` / ``api_rate_burst_client`` — per authenticated client: sustained
      requests (orders count one each) per second and burst; ``api_rate_per_address`` /
      ``api_rate_burst_address`` — the same per Ethereum address of the login calls, and per
      remote address for calls without a session. Past them: ``RATE_LIMITED`` + ``Retry-After``.

    WebSocket streams (``endpoint/ws.py``, ``endpoint/streams.py``; api.md §5):

    * ``ws_queue_size`` — messages waiting for one socket; a consumer that falls this far
      behind is told ``RECONNECT_REQUIRED`` and closed (the others never wait for it).
    * ``ws_close_seconds`` — how long such a socket gets to take that message before it is cut.
    * ``ws_heartbeat_seconds`` — a socket that was sent nothing for this long gets a
      ``HEARTBEAT`` (the Python SDK drops a socket silent for 60 s; at most 30).
    * ``ws_messages_per_second`` / ``ws_message_burst`` — what one socket may send (sustained
      rate, burst); past them it gets an error and is closed.
    * ``ws_max_subscriptions`` — book and trade-report subscriptions of one socket.
    * ``ws_max_message_bytes`` — the largest message a client may send.
    * ``ws_poll_seconds`` — how often the stream hub looks for new outbox events when nothing
      wakes it (SQLite; PostgreSQL's NOTIFY wakes it at once).
    * ``self_match`` — a new single-leg order that would cross the same client's live opposite
      order on the same contract: ``reject`` it (code SELF_MATCH, the default) or
      ``cancel_oldest`` (the resting order is cancelled, the new one admitted).
    """

    database_url: str = "sqlite:///ccp.sqlite3"
    cadence_seconds: float = 60.0
    end_of_trading_hours: float = 12.0
    lease_seconds: float = 30.0
    lease_wait: bool = False
    solver: Mapping[str, Any] = field(default_factory=dict)
    check_replication: bool = True
    check_bands: bool = True
    apply_retries: int = 3
    outbox_poll_seconds: float = 1.0
    # --- venue ---
    venue_host: str = "127.0.0.1"
    venue_port: int = 8078
    # --- background (prices, expiry, keepers) ---
    price_sources: str = "simulated"
    price_poll_seconds: float = 10.0
    price_timeout_seconds: float = 5.0
    price_retries: int = 2
    price_backoff_seconds: float = 0.5
    price_staleness_seconds: float = 60.0
    price_deviation_percent: float = 2.0
    price_quorum: int = 2
    price_coinbase_url: str = "https://api.exchange.coinbase.com"
    price_binance_url: str = "https://api.binance.com"
    price_gemini_url: str = "https://api.gemini.com"
    price_coinbase_symbols: Mapping[str, Any] = field(default_factory=lambda: {
        "WBTC/USDC": "BTC-USD", "WETH/USDC": "ETH-USD"})
    price_binance_symbols: Mapping[str, Any] = field(default_factory=lambda: {
        "WBTC/USDC": "BTCUSDT", "WETH/USDC": "ETHUSDT"})
    price_gemini_symbols: Mapping[str, Any] = field(default_factory=lambda: {
        "WBTC/USDC": "btcusd", "WETH/USDC": "ethusd"})
    price_simulated_seed: int = 1
    price_simulated_start: Mapping[str, Any] = field(default_factory=lambda: {
        "WBTC/USDC": "60000", "WETH/USDC": "3000"})
    price_simulated_step_percent: float = 0.05
    price_replay_file: str = ""
    expiry_delay_minutes: float = 10.0
    expiry_poll_seconds: float = 60.0
    expiry_readiness_hours: float = 24.0
    keeper_timeout_seconds: float = 5.0
    keeper_retries: int = 5
    keeper_backoff_seconds: float = 1.0
    keeper_poll_seconds: float = 2.0
    # --- settlement (chain_) ---
    chain_rpc_url: str = ""
    chain_deployment: str = ""
    chain_operator_key: str = field(default="", repr=False)
    chain_confirmations: int = 3
    chain_finality_depth: int = 64
    chain_monitor_depth: int = 12
    chain_poll_seconds: float = 1.0
    chain_gas_budget: int = 10_000_000
    chain_stuck_after_seconds: float = 120.0
    chain_fee_bump_percent: int = 25
    chain_max_resubmissions: int = 5
    chain_max_log_range: int = 2_000
    chain_max_movements: int = 1_000
    chain_mine_seconds: float = 0.0
    # --- endpoint (client API) ---
    api_admin_token: str = ""
    api_chain_id: int = 1
    api_domain_elektro: str = "Elektro"
    api_domain_ithaca: str = "Ithaca"
    api_domain_version: str = "0.1"
    api_wire_dialect: str = "elektro"
    api_nonce_seconds: float = 300.0
    api_session_seconds: float = 86400.0
    api_https: bool = False
    api_max_body_bytes: int = 1_000_000
    api_max_batch_orders: int = 500
    api_rate_per_client: float = 200.0
    api_rate_burst_client: int = 1000
    api_rate_per_address: float = 20.0
    api_rate_burst_address: int = 100
    # --- endpoint (WebSocket streams) ---
    ws_queue_size: int = 2000
    ws_close_seconds: float = 5.0
    ws_heartbeat_seconds: float = 25.0
    ws_messages_per_second: float = 20.0
    ws_message_burst: int = 100
    ws_max_subscriptions: int = 500
    ws_max_message_bytes: int = 65536
    ws_poll_seconds: float = 0.1
    # --- order types ---
    self_match: str = "reject"

    def __post_init__(self) -> None:
        self._check_chain()
        for name in ("cadence_seconds", "lease_seconds", "outbox_poll_seconds"):
            if not 0 < getattr(self, name) <= MAX_SECONDS:
                raise SettingsError(f"{name} must be positive and at most {int(MAX_SECONDS)}, "
                                    f"got {getattr(self, name)}")
        if not 0 <= self.end_of_trading_hours <= MAX_SECONDS / 3600:
            raise SettingsError(f"end_of_trading_hours must be in [0, {int(MAX_SECONDS / 3600)}], "
                                f"got {self.end_of_trading_hours}")
        if self.apply_retries < 0:
            raise SettingsError("apply_retries must not be negative")
        if not self.database_url.startswith(("sqlite", "postgresql")):
            raise SettingsError(f"database_url must be a sqlite:// or postgresql:// URL, "
                                f"got {self.database_url!r}")
        for name in ("api_nonce_seconds", "api_session_seconds", "api_max_body_bytes",
                     "api_max_batch_orders", "api_rate_per_client", "api_rate_burst_client",
                     "api_rate_per_address", "api_rate_burst_address"):
            if not getattr(self, name) > 0:
                raise SettingsError(f"{name} must be positive, got {getattr(self, name)}")
        if self.api_wire_dialect not in ("elektro", "ithaca"):
            raise SettingsError(f"api_wire_dialect must be elektro or ithaca, "
                                f"got {self.api_wire_dialect!r}")
        if self.api_chain_id < 0:
            raise SettingsError("api_chain_id must not be negative")
        for name in ("ws_queue_size", "ws_close_seconds", "ws_heartbeat_seconds",
                     "ws_messages_per_second", "ws_message_burst", "ws_max_subscriptions",
                     "ws_max_message_bytes", "ws_poll_seconds"):
            if not getattr(self, name) > 0:
                raise SettingsError(f"{name} must be positive, got {getattr(self, name)}")
        if self.ws_heartbeat_seconds > 30:
            raise SettingsError(f"ws_heartbeat_seconds must be at most 30 (clients drop silent "
                                f"sockets), got {self.ws_heartbeat_seconds}")
        if not isinstance(self.solver, Mapping):
            raise SettingsError(f"solver: expected a table of solver parameters, "
                                f"got {self.solver!r}")
        if self.self_match not in ("reject", "cancel_oldest"):
            raise SettingsError(f"self_match must be 'reject' or 'cancel_oldest', "
                                f"got {self.self_match!r}")
        object.__setattr__(self, "solver", dict(self.solver))
        if not 0 < self.venue_port < 65536:
            raise SettingsError(f"venue_port must be a TCP port, got {self.venue_port}")
        try:  # checked when the settings load, not when the first auction runs
            SolverParams.from_dict(self.solver)
        except ParamsError as e:
            raise SettingsError(f"solver: {e}") from None
        self._check_background()

    def _check_background(self) -> None:
        known = {"simulated", "coinbase", "binance", "gemini"}
        names = [n.strip() for n in self.price_sources.split(",") if n.strip()]
        if not names or set(names) - known or len(set(names)) != len(names):
            raise SettingsError(f"price_sources must list distinct sources of "
                                f"{', '.join(sorted(known))}, got {self.price_sources!r}")
        for name in ("price_poll_seconds", "price_timeout_seconds", "price_staleness_seconds",
                     "price_deviation_percent", "expiry_poll_seconds", "expiry_readiness_hours",
                     "keeper_timeout_seconds", "keeper_poll_seconds",
                     "price_simulated_step_percent"):
            if not getattr(self, name) > 0:
                raise SettingsError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("price_retries", "price_backoff_seconds", "expiry_delay_minutes",
                     "keeper_retries", "keeper_backoff_seconds"):
            if getattr(self, name) < 0:
                raise SettingsError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.price_quorum < 1:
            raise SettingsError(f"price_quorum must be at least 1, got {self.price_quorum}")
        for name in ("price_coinbase_url", "price_binance_url", "price_gemini_url"):
            if not getattr(self, name).startswith(("http://", "https://")):
                raise SettingsError(f"{name} must be an http(s) URL, got {getattr(self, name)!r}")
        for name in ("price_coinbase_symbols", "price_binance_symbols", "price_gemini_symbols",
                     "price_simulated_start"):
            value = dict(getattr(self, name))
            if not all(isinstance(k, str) and isinstance(v, str) and v for k, v in
                       value.items()):
                raise SettingsError(f"{name} must map pairs to non-empty strings")
            object.__setattr__(self, name, value)
        for pair, text in self.price_simulated_start.items():
            try:
                ok = Decimal(text) > 0
            except (ArithmeticError, ValueError):
                ok = False
            if not ok:
                raise SettingsError(f"price_simulated_start: {pair}: not a positive price "
                                    f"{text!r}")

    @property
    def price_source_names(self) -> list[str]:
        return [n.strip() for n in self.price_sources.split(",") if n.strip()]

    def _check_chain(self) -> None:
        if self.chain_rpc_url and not self.chain_rpc_url.startswith(("http://", "https://")):
            raise SettingsError(f"chain_rpc_url must be an http(s):// URL, got "
                                f"{self.chain_rpc_url!r}")
        if self.chain_confirmations < 1:
            raise SettingsError("chain_confirmations must be at least 1")
        if self.chain_finality_depth < self.chain_confirmations:
            raise SettingsError("chain_finality_depth must be at least chain_confirmations")
        for name in ("chain_monitor_depth", "chain_max_resubmissions"):
            if getattr(self, name) < 0:
                raise SettingsError(f"{name} must not be negative")
        for name in ("chain_poll_seconds", "chain_stuck_after_seconds", "chain_max_log_range",
                     "chain_max_movements"):
            if not getattr(self, name) > 0:
                raise SettingsError(f"{name} must be positive, got {getattr(self, name)}")
        if self.chain_gas_budget < 150_000:
            raise SettingsError("chain_gas_budget must be at least 150000 (one movement)")
        if self.chain_fee_bump_percent < 10:
            raise SettingsError("chain_fee_bump_percent must be at least 10 (node rule)")
        if self.chain_mine_seconds < 0:
            raise SettingsError("chain_mine_seconds must not be negative")
        key = self.chain_operator_key.removeprefix("0x")
        if key and (len(key) != 64 or any(c not in "0123456789abcdefABCDEF" for c in key)):
            raise SettingsError("chain_operator_key must be 32 bytes of hex")

    @property
    def cadence_ms(self) -> int:
        return round(self.cadence_seconds * 1000)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["solver"] = dict(self.solver)
        for k, v in d.items():
            if isinstance(v, Mapping):
                d[k] = dict(v)
        if self.chain_operator_key:
            d["chain_operator_key"] = "(set, not shown)"
        return d

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "settings",
                     base: Settings | None = None) -> Settings:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise SettingsError(f"{source}: unknown setting(s) {', '.join(unknown)} "
                                f"(known: {', '.join(known)})")
        values = {k: _coerce(k, v, str(known[k].type), source) for k, v in data.items()}
        try:
            return replace(base or cls(), **values)
        except SettingsError as e:
            raise SettingsError(f"{source}: {e}") from None


def _coerce(name: str, value: Any, typ: str, source: str) -> Any:
    bad = SettingsError(f"{source}: {name}: bad value {value!r} (expected {typ})")
    if typ == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise bad
    if typ == "int":
        if isinstance(value, bool):
            raise bad
        try:
            if isinstance(value, float) and not value.is_integer():
                raise bad
            return int(value)
        except (TypeError, ValueError, OverflowError):
            raise bad from None
    if typ == "float":
        if isinstance(value, bool):
            raise bad
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad from None
    if typ == "str":
        if not isinstance(value, str):
            raise bad
        return value
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise bad from None
    if not isinstance(value, Mapping):
        raise bad
    return dict(value)


def read_config_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except OSError as e:
        raise SettingsError(f"{p}: cannot read config file: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise SettingsError(f"{p}: not a text file (not UTF-8: byte {e.start})") from None
    try:
        data = json.loads(text) if p.suffix == ".json" else tomllib.loads(text)
    except (ValueError, RecursionError) as e:  # JSON/TOML syntax, not UTF-8, huge numbers
        raise SettingsError(f"{p}: not valid {'JSON' if p.suffix == '.json' else 'TOML'}: {e}") \
            from None
    if not isinstance(data, dict):
        raise SettingsError(f"{p}: expected a table of settings")
    return data


def load_settings(config: str | Path | None = None, env: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    """Defaults → config file → environment → overrides (``None`` values are ignored)."""
    env = os.environ if env is None else env
    settings = Settings()
    config = config or env.get(CONFIG_ENV)
    if config:
        settings = Settings.from_mapping(read_config_file(config), str(config), settings)
    names = {f.name for f in fields(Settings)}
    from_env = {name: env[ENV_PREFIX + name.upper()] for name in names
                if ENV_PREFIX + name.upper() in env}
    if from_env:
        settings = Settings.from_mapping(from_env, "environment", settings)
    if overrides:
        given = {k: v for k, v in overrides.items() if v is not None}
        if given:
            settings = Settings.from_mapping(given, "command line", settings)
    return settings
