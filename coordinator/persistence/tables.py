"""The store's tables (SQLAlchemy Core). Every amount is an integer.

Units: quantities in **lots** of their contract, prices in **currency precision units** of the
pair's numeraire (``10^-precision``, e.g. 0.0001 USDC), fund values, lockups and cash movements
in precision units of their currency. Times are epoch milliseconds; expiries ``yyyymmdd``
integers. The objects mirror the original backend (seed 001): reference prices, spot prices,
fund locks, the live book and historical orders, order state history, contracts, positions,
lockups, cash movements and their trackings, edges — plus batches, fills, the outbox and the
coordinator lease.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Sequence,
    String,
    Table,
    Text,
    false,
)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

# An auto-increment 64-bit key; SQLite only auto-increments INTEGER PRIMARY KEY.
SerialId = BigInteger().with_variant(Integer(), "sqlite")


def _amount(name: str, **kw) -> Column:
    return Column(name, BigInteger, nullable=False, server_default="0", **kw)


currencies = Table(
    "currencies", metadata,
    Column("symbol", String(16), primary_key=True),
    Column("decimals", Integer, nullable=False),
    Column("precision", Integer, nullable=False),
)

currency_pairs = Table(
    "currency_pairs", metadata,
    Column("pair", String(40), primary_key=True),
    Column("underlying", String(16), ForeignKey("currencies.symbol"), nullable=False),
    Column("numeraire", String(16), ForeignKey("currencies.symbol"), nullable=False),
)

contracts = Table(
    "contracts", metadata,
    Column("contract_id", BigInteger, primary_key=True, autoincrement=False),
    Column("payoff", String(16), nullable=False),
    Column("pair", String(40), ForeignKey("currency_pairs.pair"), nullable=False),
    Column("expiry", Integer, nullable=False),  # yyyymmdd
    Column("strike", BigInteger),  # numeraire units; NULL for forwards
    Column("tick_size", BigInteger, nullable=False),  # numeraire units
    Column("lot_size", BigInteger, nullable=False),  # units of the quantity currency
    Column("listed_ms", BigInteger, nullable=False),
    Index(None, "pair", "expiry"),
)

# Matching prices; a contract that never traded holds its initial price. With the band.
reference_prices = Table(
    "reference_prices", metadata,
    Column("contract_id", BigInteger, ForeignKey("contracts.contract_id"), primary_key=True,
           autoincrement=False),
    Column("price", BigInteger, nullable=False),  # numeraire units
    Column("low_range", BigInteger, nullable=False),
    Column("high_range", BigInteger, nullable=False),
    Column("batch_id", BigInteger),  # the batch that set it; NULL = initial price
    Column("updated_ms", BigInteger, nullable=False),
)

spot_prices = Table(
    "spot_prices", metadata,
    Column("id", SerialId, primary_key=True),
    Column("pair", String(40), ForeignKey("currency_pairs.pair"), nullable=False),
    Column("source", String(40), nullable=False),
    Column("price", BigInteger, nullable=False),  # numeraire units
    Column("observed_ms", BigInteger, nullable=False),
    Column("is_fixing", Boolean, nullable=False, server_default=false()),
    Index(None, "pair", "observed_ms"),
)

clients = Table(
    "clients", metadata,
    Column("client_id", BigInteger, primary_key=True, autoincrement=False),
    Column("eth_address", String(42), unique=True),
    Column("registered_ms", BigInteger, nullable=False),
)

# The three values per client and currency (collateral.md §1).
fund_locks = Table(
    "fund_locks", metadata,
    Column("client_id", BigInteger, ForeignKey("clients.client_id"), primary_key=True,
           autoincrement=False),
    Column("currency", String(16), ForeignKey("currencies.symbol"), primary_key=True),
    _amount("fund_lock_value"),
    _amount("order_value"),
    _amount("settle_value"),
    Column("updated_ms", BigInteger, nullable=False),
)


def _order_columns() -> list[Column]:
    return [
        Column("order_id", BigInteger, primary_key=True, autoincrement=False),
        Column("client_id", BigInteger, nullable=False),
        Column("client_order_id", BigInteger),
        Column("pair", String(40), nullable=False),
        Column("total_net_price", BigInteger, nullable=False),  # numeraire units, signed
        Column("time_in_force", String(24), nullable=False),
        Column("all_or_none", Boolean, nullable=False),
        Column("min_packages", BigInteger, nullable=False),
        Column("packages", BigInteger, nullable=False),  # q at entry
        Column("filled_packages", BigInteger, nullable=False),
        Column("status", String(40), nullable=False),
        Column("reject_reason", String(60)),
        Column("admitted_ms", BigInteger, nullable=False),
        Column("expire_ms", BigInteger),  # DAY: end of the UTC day; GTD: iocAuctionTime
        _amount("lock_underlying"),  # what the unfilled rest locks now
        _amount("lock_numeraire"),
        Column("version", Integer, nullable=False, server_default="0"),
        Column("batch_id", BigInteger),  # the last batch that changed it
        Column("updated_ms", BigInteger, nullable=False),
    ]


# The live book: orders that can still trade.
orders = Table("orders", metadata, *_order_columns(), Index(None, "admitted_ms"),
               Index(None, "client_id"))

# Orders in a final state (filled, cancelled, rejected), moved out of the live book.
historical_orders = Table("historical_orders", metadata, *_order_columns(),
                          Index(None, "client_id"))

order_legs = Table(
    "order_legs", metadata,
    Column("order_id", BigInteger, primary_key=True, autoincrement=False),
    Column("contract_id", BigInteger, ForeignKey("contracts.contract_id"), primary_key=True,
           autoincrement=False),
    Column("side", String(4), nullable=False),
    Column("lots", BigInteger, nullable=False),
)

order_state_history = Table(
    "order_state_history", metadata,
    Column("id", SerialId, primary_key=True),
    Column("order_id", BigInteger, nullable=False),
    Column("from_status", String(40)),
    Column("to_status", String(40), nullable=False),
    Column("filled_packages", BigInteger, nullable=False),
    Column("batch_id", BigInteger),
    Column("reason", String(60)),
    Column("at_ms", BigInteger, nullable=False),
    Index(None, "order_id"),
)

positions = Table(
    "positions", metadata,
    Column("client_id", BigInteger, ForeignKey("clients.client_id"), primary_key=True,
           autoincrement=False),
    Column("contract_id", BigInteger, ForeignKey("contracts.contract_id"), primary_key=True,
           autoincrement=False),
    Column("lots", BigInteger, nullable=False),  # + long (BID), − short (ASK)
    # Forwards: the entry price (numeraire per unit) and the realised result (numeraire), exact
    # rationals as numerator/denominator (validator.collateral.positions).
    Column("entry_num", BigInteger, nullable=False, server_default="0"),
    Column("entry_den", BigInteger, nullable=False, server_default="1"),
    Column("realised_num", BigInteger, nullable=False, server_default="0"),
    Column("realised_den", BigInteger, nullable=False, server_default="1"),
    Column("batch_id", BigInteger),
    Column("updated_ms", BigInteger, nullable=False),
)

# Collateral locked per client × pair × expiry (collateral.md §3).
lockups = Table(
    "lockups", metadata,
    Column("client_id", BigInteger, ForeignKey("clients.client_id"), primary_key=True,
           autoincrement=False),
    Column("pair", String(40), ForeignKey("currency_pairs.pair"), primary_key=True),
    Column("expiry", Integer, primary_key=True, autoincrement=False),
    _amount("underlying_amount"),
    _amount("numeraire_amount"),
    Column("batch_id", BigInteger),
    Column("updated_ms", BigInteger, nullable=False),
)

cash_movements = Table(
    "cash_movements", metadata,
    Column("id", SerialId, primary_key=True),
    Column("key", String(120), nullable=False, unique=True),  # origin:origin_id:client:pair
    Column("client_id", BigInteger, ForeignKey("clients.client_id"), nullable=False),
    Column("pair", String(40), ForeignKey("currency_pairs.pair"), nullable=False),
    Column("origin", String(16), nullable=False),
    Column("origin_id", BigInteger, nullable=False),
    Column("underlying_amount", BigInteger, nullable=False),  # + the client pays
    Column("strike_amount", BigInteger, nullable=False),
    Column("state", String(24), nullable=False),  # current settlement state
    Column("created_ms", BigInteger, nullable=False),
    Index(None, "origin", "origin_id"),
    Index(None, "state"),
)

cash_movement_positions = Table(
    "cash_movement_positions", metadata,
    Column("movement_id", BigInteger, ForeignKey("cash_movements.id"), primary_key=True,
           autoincrement=False),
    Column("contract_id", BigInteger, ForeignKey("contracts.contract_id"), primary_key=True,
           autoincrement=False),
    Column("size", BigInteger, nullable=False),  # precision units of the quantity currency
)

# Settlement state per movement: one row per transition.
cash_movement_trackings = Table(
    "cash_movement_trackings", metadata,
    Column("id", SerialId, primary_key=True),
    Column("movement_id", BigInteger, ForeignKey("cash_movements.id"), nullable=False),
    Column("from_state", String(24)),
    Column("to_state", String(24), nullable=False),
    Column("tx_hash", String(80)),
    Column("detail", Text),
    Column("at_ms", BigInteger, nullable=False),
    Index(None, "movement_id"),
)

# The last processed chain block and other cursors.
edges = Table(
    "edges", metadata,
    Column("name", String(80), primary_key=True),
    Column("value", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

batches = Table(
    "batches", metadata,
    Column("batch_id", BigInteger, primary_key=True, autoincrement=False),  # cut-off, epoch ms
    Column("status", String(16), nullable=False),  # APPLIED | FAILED
    Column("solve_status", String(24)),
    Column("order_count", Integer, nullable=False),
    Column("fill_count", Integer, nullable=False),
    Column("volume", BigInteger, nullable=False),  # lots
    Column("book", JSON, nullable=False),  # the cut book as cut (interchange format)
    Column("params", JSON, nullable=False),  # effective solver and check parameters
    Column("result", JSON),  # interchange result
    Column("check_ok", Boolean),
    Column("violations", JSON, nullable=False),
    Column("timings", JSON, nullable=False),  # seconds per step
    Column("coordinator", String(80), nullable=False),
    Column("started_ms", BigInteger, nullable=False),
    Column("finished_ms", BigInteger, nullable=False),
)

fills = Table(
    "fills", metadata,
    Column("batch_id", BigInteger, ForeignKey("batches.batch_id"), primary_key=True,
           autoincrement=False),
    Column("order_id", BigInteger, primary_key=True, autoincrement=False),
    Column("client_id", BigInteger, nullable=False),
    Column("packages", BigInteger, nullable=False),
    Index(None, "order_id"),
)

fill_legs = Table(
    "fill_legs", metadata,
    Column("batch_id", BigInteger, primary_key=True, autoincrement=False),
    Column("order_id", BigInteger, primary_key=True, autoincrement=False),
    Column("contract_id", BigInteger, primary_key=True, autoincrement=False),
    Column("lots", BigInteger, nullable=False),  # signed: + bought, − sold
    Column("price", BigInteger, nullable=False),  # numeraire units per unit
    Index(None, "order_id"),  # an order's fills (the streams' EXEC_REPORTs)
)

outbox = Table(
    "outbox", metadata,
    Column("seq", SerialId, primary_key=True),
    Column("batch_id", BigInteger),
    Column("kind", String(32), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

coordinator_lease = Table(
    "coordinator_lease", metadata,
    Column("name", String(40), primary_key=True),
    Column("holder", String(80), nullable=False),
    Column("token", BigInteger, nullable=False),  # fencing token: +1 on every takeover
    Column("expires_ms", BigInteger, nullable=False),
)

# --- background (spot prices, expiry, readiness alerts, keepers) ---

# One row per aggregation (a spot round or a fixing) of a pair: the rule, every source's
# answer (price or failure, used or why ignored) and the outcome. A price it produced is
# also in spot_prices (``spot_price_id``); NO_QUORUM rows leave the last price standing.
price_aggregations = Table(
    "price_aggregations", metadata,
    Column("id", SerialId, primary_key=True),
    Column("pair", String(40), ForeignKey("currency_pairs.pair"), nullable=False),
    Column("kind", String(16), nullable=False),  # SPOT | FIXING
    Column("status", String(16), nullable=False),  # OK | NO_QUORUM
    Column("price", BigInteger),  # numeraire units; NULL without quorum
    Column("observed_ms", BigInteger, nullable=False),
    Column("rule", String(200), nullable=False),
    Column("sources", JSON, nullable=False),
    Column("spot_price_id", BigInteger),
    Index(None, "pair", "observed_ms"),
)

# The settlement price of a (pair, expiry): from the fixing or set by hand (who and why).
settlement_prices = Table(
    "settlement_prices", metadata,
    Column("pair", String(40), ForeignKey("currency_pairs.pair"), primary_key=True),
    Column("expiry", Integer, primary_key=True, autoincrement=False),  # yyyymmdd
    Column("price", BigInteger, nullable=False),  # numeraire units
    Column("method", String(16), nullable=False),  # FIXING | MANUAL
    Column("rule", String(200), nullable=False),
    Column("sources", JSON, nullable=False),
    Column("actor", String(80), nullable=False),
    Column("reason", Text, nullable=False),
    Column("set_ms", BigInteger, nullable=False),
)

# A settled (pair, expiry): written in the transaction that wrote its movements.
expiry_runs = Table(
    "expiry_runs", metadata,
    Column("pair", String(40), ForeignKey("currency_pairs.pair"), primary_key=True),
    Column("expiry", Integer, primary_key=True, autoincrement=False),
    Column("price", BigInteger, nullable=False),
    Column("clients", Integer, nullable=False),
    Column("movements", Integer, nullable=False),
    Column("actor", String(80), nullable=False),
    Column("settled_ms", BigInteger, nullable=False),
)

# Contracts out of contractList (settled at expiry); historicalContracts lists them.
expired_contracts = Table(
    "expired_contracts", metadata,
    Column("contract_id", BigInteger, ForeignKey("contracts.contract_id"), primary_key=True,
           autoincrement=False),
    Column("settlement_price", BigInteger, nullable=False),
    Column("expired_ms", BigInteger, nullable=False),
)

# Operations alerts; an active alert (cleared_ms NULL) is raised once per key.
alerts = Table(
    "alerts", metadata,
    Column("id", SerialId, primary_key=True),
    Column("key", String(200), nullable=False),
    Column("reason", String(40), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("raised_ms", BigInteger, nullable=False),
    Column("cleared_ms", BigInteger),
    Index(None, "key"),
)

keepers = Table(
    "keepers", metadata,
    Column("id", SerialId, primary_key=True),
    Column("url", String(500), nullable=False),
    Column("secret", String(200), nullable=False),  # HMAC key of the signature
    Column("events", JSON, nullable=False),  # outbox event kinds delivered
    Column("active", Boolean, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

# One delivery per (keeper, outbox event); its attempts are logged below.
keeper_deliveries = Table(
    "keeper_deliveries", metadata,
    Column("id", SerialId, primary_key=True),
    Column("keeper_id", BigInteger, ForeignKey("keepers.id"), nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("body", Text, nullable=False),  # the exact bytes signed and sent (UTF-8 JSON)
    Column("status", String(16), nullable=False),  # PENDING | DELIVERED | FAILED
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_ms", BigInteger, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("delivered_ms", BigInteger),
    Index(None, "status", "next_attempt_ms"),
    Index(None, "keeper_id", "event_seq", unique=True),
)

keeper_attempts = Table(
    "keeper_attempts", metadata,
    Column("id", SerialId, primary_key=True),
    Column("delivery_id", BigInteger, ForeignKey("keeper_deliveries.id"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("at_ms", BigInteger, nullable=False),
    Column("duration_ms", BigInteger, nullable=False),
    Index(None, "delivery_id"),
)

# --- settlement ---
# A settlement batch: one Ledger.updatePositions call with its idempotency key (backendId).
settlement_batches = Table(
    "settlement_batches", metadata,
    Column("backend_id", BigInteger, primary_key=True, autoincrement=False),
    Column("pair", String(40), nullable=False),
    Column("ledger", String(42), nullable=False),
    Column("gas_limit", BigInteger, nullable=False),  # modelled gas of the batch
    Column("status", String(24)),  # SETTLE_* of every part; NULL = recorded, not yet sent
    Column("reason", Text),  # why it failed (revert reason, dropped, re-org)
    Column("attempt", Integer, nullable=False, server_default="0"),  # transactions signed
    Column("resubmissions", Integer, nullable=False, server_default="0"),
    Column("final", Boolean, nullable=False, server_default=false()),  # past finality depth
    Column("applied_block", BigInteger),  # where the chain monitor saw PositionsUpdated
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Index(None, "final"),
)

# The share of one cash movement carried by one batch (a movement may span batches).
settlement_parts = Table(
    "settlement_parts", metadata,
    Column("backend_id", BigInteger, ForeignKey("settlement_batches.backend_id"),
           primary_key=True, autoincrement=False),
    Column("part_no", Integer, primary_key=True, autoincrement=False),
    Column("movement_id", BigInteger, ForeignKey("cash_movements.id"), nullable=False),
    Column("address", String(42), nullable=False),
    Column("underlying_amount", BigInteger, nullable=False),  # precision units, + pays
    Column("strike_amount", BigInteger, nullable=False),
    Column("status", String(24)),  # SETTLE_* of this part; NULL = not yet sent
    Index(None, "movement_id"),
)

settlement_part_positions = Table(
    "settlement_part_positions", metadata,
    Column("backend_id", BigInteger, primary_key=True, autoincrement=False),
    Column("part_no", Integer, primary_key=True, autoincrement=False),
    Column("contract_id", BigInteger, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),  # precision units of the quantity currency
)

# Every transaction signed for a batch, written BEFORE it is sent (write-ahead): a crash
# between sending and recording never loses sight of a transaction.
settlement_txs = Table(
    "settlement_txs", metadata,
    Column("tx_hash", String(80), primary_key=True),
    Column("backend_id", BigInteger, ForeignKey("settlement_batches.backend_id"),
           nullable=False),
    Column("nonce", BigInteger, nullable=False),
    Column("max_fee_per_gas", BigInteger, nullable=False),  # wei
    Column("max_priority_fee_per_gas", BigInteger, nullable=False),
    Column("replacement", Boolean, nullable=False),
    Column("sent_ms", BigInteger, nullable=False),
    Index(None, "backend_id"),
)

# Chain events the monitor applied (one row per log: a log can never be applied twice).
# Native token amounts can exceed 64 bits: kept as decimal strings.
chain_events = Table(
    "chain_events", metadata,
    Column("block_number", BigInteger, primary_key=True, autoincrement=False),
    Column("log_index", Integer, primary_key=True, autoincrement=False),
    Column("tx_hash", String(80), nullable=False),
    Column("block_hash", String(80), nullable=False),
    Column("kind", String(24), nullable=False),  # REGISTERED, DEPOSIT, …, BATCH_APPLIED
    Column("address", String(42)),  # the client (NULL for a batch)
    Column("client_id", BigInteger),
    Column("currency", String(42)),
    Column("amount", String(80)),  # native units, decimal
    Column("balance", String(80)),  # free balance after the event, native units
    Column("backend_id", BigInteger),
    Column("applied_ms", BigInteger, nullable=False),
    Index(None, "address"),
)

# --- endpoint ---
# Login nonces (api.md §2): single use, expiring; a row is deleted when its nonce is used.
auth_nonces = Table(
    "auth_nonces", metadata,
    Column("nonce", String(120), primary_key=True),
    Column("eth_address", String(42), nullable=False),  # lower case
    Column("expires_ms", BigInteger, nullable=False),
    Index(None, "expires_ms"),
)

# Sessions: the SHA-256 of the opaque token (a leaked table gives no usable token).
auth_sessions = Table(
    "auth_sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("client_id", BigInteger, ForeignKey("clients.client_id"), nullable=False),
    Column("eth_address", String(42), nullable=False),  # lower case
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Index(None, "expires_ms"),
)

# An order is found by its client's id for it (clientOrderId is unique per client).
Index(None, orders.c.client_id, orders.c.client_order_id)
Index(None, historical_orders.c.client_id, historical_orders.c.client_order_id)

# Contracts the admin API delisted: no new orders; their live orders were cancelled.
contract_delistings = Table(
    "contract_delistings", metadata,
    Column("contract_id", BigInteger, ForeignKey("contracts.contract_id"), primary_key=True,
           autoincrement=False),
    Column("delisted_ms", BigInteger, nullable=False),
)

# --- order types ---
# Order flags beyond the original columns, one row per order that has one (reduce-only orders);
# keyed by order id, so the row follows the order from the live book into the history.
order_flags = Table(
    "order_flags", metadata,
    Column("order_id", BigInteger, primary_key=True, autoincrement=False),
    Column("reduce_only", Boolean, nullable=False, server_default=false()),
)

# --- reconcile ---
# Operators' requests to resubmit a reverted settlement batch (``ccp chain retry``). The
# settlement process carries out each pending request once (done_ms, outcome); a request for a
# batch that already has a pending one is the same request.
settlement_retries = Table(
    "settlement_retries", metadata,
    Column("id", SerialId, primary_key=True, autoincrement=True),
    Column("backend_id", BigInteger, ForeignKey("settlement_batches.backend_id"),
           nullable=False),
    Column("resubmissions", Integer, nullable=False),  # the batch's count when asked
    Column("requested_ms", BigInteger, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("reason", String(2000)),
    Column("done_ms", BigInteger),
    Column("outcome", String(2000)),
    Index(None, "backend_id"),
)

# --- intake ---
# The live single-leg orders by (client, contract, side): what self-match prevention compares a
# new single-leg order with, found through the index without reading the client's other live
# orders. A row follows its order's life in the live book: written with it
# (``Tx.insert_orders``), deleted with it (ON DELETE CASCADE when the order leaves ``orders``).
order_single_legs = Table(
    "order_single_legs", metadata,
    Column("order_id", BigInteger, ForeignKey("orders.order_id", ondelete="CASCADE"),
           primary_key=True, autoincrement=False),
    Column("client_id", BigInteger, nullable=False),
    Column("contract_id", BigInteger, nullable=False),
    Column("side", String(4), nullable=False),
    Index(None, "client_id", "contract_id", "side"),
)

# --- intake: venue order ids ---
# The client API's venue order ids on PostgreSQL (``nextval``: admissions of different clients
# run concurrently, so "one above every stored id" would need one lock for all); moved past any
# id stored from elsewhere (``Tx.insert_orders``). SQLite has no sequences: it keeps max + 1
# under its writer lock.
order_ids = Sequence("order_ids", metadata=metadata)
