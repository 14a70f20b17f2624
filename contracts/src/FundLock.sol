// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "./IERC20.sol";

/// @title FundLock — custody of the venue's client funds (spec/settlement.md §1).
/// @notice Per client and token: a free balance, and at most five withdrawal requests. A request
///  is paid out by `release` once `releaseLock` seconds old; while younger than `tradeLock` its
///  funds may still be drawn to settle trades. Settlement batches reach the balances only through
///  a registered Ledger (`updateBalances`). Positive amounts are paid by the client into the
///  clearing-house account `collateral[token]`, negative amounts are paid out of it, so at all
///  times `token.balanceOf(this) = Σ balances + Σ pending requests + collateral[token]`.
///  Escape hatch: when no batch has landed for `escapeDelay` seconds, a client may take its free
///  balance (`escapeWithdraw`) and release requests without waiting for `releaseLock`.
contract FundLock {
    uint256 public constant MAX_PENDING_WITHDRAWALS = 5;
    uint64 public constant MAX_RELEASE_LOCK = 1 weeks;

    struct Withdrawal {
        uint192 amount; // 0 = the slot is free
        uint64 requestedAt;
    }

    address public admin;
    uint64 public tradeLock;
    uint64 public releaseLock;
    uint64 public escapeDelay;
    uint64 public lastBatchAt;

    mapping(address ledger => bool) public isLedger;
    mapping(address client => bool) public isClient;
    mapping(address client => mapping(address token => uint256)) public balances;
    mapping(address token => uint256) public collateral;
    mapping(address client => mapping(address token => Withdrawal[5])) private _withdrawals;

    event AdminChanged(address indexed previousAdmin, address indexed newAdmin);
    event LedgerSet(address indexed ledger, bool registered);
    event LocksSet(uint64 tradeLock, uint64 releaseLock, uint64 escapeDelay);
    event ClientRegistered(address indexed client);
    event Deposit(address indexed client, address indexed token, uint256 amount, uint256 balance);
    event Withdraw(
        address indexed client, address indexed token, uint256 amount, uint8 slot, uint256 balance, uint64 requestedAt
    );
    event Release(address indexed client, address indexed token, uint256 amount, uint8 slot);
    event EscapeWithdrawal(address indexed client, address indexed token, uint256 amount);
    /// @dev One per non-zero entry of a batch; `amount` > 0 the client paid, < 0 it received.
    event BalanceUpdated(
        address indexed client, address indexed token, int256 amount, uint256 balance, uint64 indexed backendId
    );
    /// @dev Part of a payment taken from a young withdrawal request; `remaining` is left in the slot.
    event WithdrawalDrawn(
        address indexed client, address indexed token, uint8 slot, uint256 amount, uint256 remaining, uint64 backendId
    );

    error Unauthorized(address caller);
    error ZeroAmount();
    error ZeroAddress();
    error InvalidLocks(uint64 tradeLock, uint64 releaseLock, uint64 escapeDelay);
    error InsufficientBalance(address client, address token, uint256 needed, uint256 available);
    error InsufficientCollateral(address token, uint256 needed, uint256 available);
    error TooManyWithdrawals(address client, address token);
    error NoWithdrawal(uint8 slot);
    error ReleaseLocked(uint8 slot, uint256 availableAt);
    error EscapeNotOpen(uint256 opensAt);
    error LengthMismatch();
    error TransferFailed(address token);

    modifier onlyAdmin() {
        if (msg.sender != admin) revert Unauthorized(msg.sender);
        _;
    }

    constructor(uint64 tradeLock_, uint64 releaseLock_, uint64 escapeDelay_) {
        admin = msg.sender;
        _setLocks(tradeLock_, releaseLock_, escapeDelay_);
        lastBatchAt = uint64(block.timestamp);
        emit AdminChanged(address(0), msg.sender);
    }

    // ----------------------------------------------------------------------------- admin

    function setAdmin(address newAdmin) external onlyAdmin {
        if (newAdmin == address(0)) revert ZeroAddress();
        emit AdminChanged(admin, newAdmin);
        admin = newAdmin;
    }

    function setLedger(address ledger, bool registered) external onlyAdmin {
        if (ledger == address(0)) revert ZeroAddress();
        isLedger[ledger] = registered;
        emit LedgerSet(ledger, registered);
    }

    function setLocks(uint64 tradeLock_, uint64 releaseLock_, uint64 escapeDelay_) external onlyAdmin {
        _setLocks(tradeLock_, releaseLock_, escapeDelay_);
    }

    function _setLocks(uint64 t, uint64 r, uint64 e) private {
        if (t >= r || r > MAX_RELEASE_LOCK || e == 0) revert InvalidLocks(t, r, e);
        tradeLock = t;
        releaseLock = r;
        escapeDelay = e;
        emit LocksSet(t, r, e);
    }

    // ----------------------------------------------------------------------------- clients

    function deposit(address token, uint256 amount) external {
        _deposit(msg.sender, token, amount);
    }

    /// @notice The original venue's ABI (api.md §6): deposit for `client` from the sender's
    ///  tokens (the sender's allowance pays; `client` is credited and registered).
    function deposit(address client, address token, uint256 amount) external {
        if (client == address(0)) revert ZeroAddress();
        _deposit(client, token, amount);
    }

    function _deposit(address client, address token, uint256 amount) private {
        if (amount == 0) revert ZeroAmount();
        if (!isClient[client]) {
            isClient[client] = true;
            emit ClientRegistered(client);
        }
        uint256 balance = balances[client][token] + amount;
        balances[client][token] = balance;
        emit Deposit(client, token, amount, balance);
        _safeTransferFrom(token, msg.sender, amount);
    }

    /// @return slot the request's slot (0..4), needed to release it.
    function withdraw(address token, uint256 amount) external returns (uint8 slot) {
        if (amount == 0) revert ZeroAmount();
        uint256 balance = balances[msg.sender][token];
        if (balance < amount) revert InsufficientBalance(msg.sender, token, amount, balance);
        Withdrawal[5] storage ws = _withdrawals[msg.sender][token];
        slot = type(uint8).max;
        for (uint8 i = 0; i < MAX_PENDING_WITHDRAWALS; ++i) {
            if (ws[i].amount == 0) {
                slot = i;
                break;
            }
        }
        if (slot == type(uint8).max) revert TooManyWithdrawals(msg.sender, token);
        balance -= amount;
        balances[msg.sender][token] = balance;
        ws[slot] = Withdrawal(uint192(amount), uint64(block.timestamp));
        emit Withdraw(msg.sender, token, amount, slot, balance, uint64(block.timestamp));
    }

    function release(address token, uint8 slot) external {
        if (slot >= MAX_PENDING_WITHDRAWALS) revert NoWithdrawal(slot);
        Withdrawal storage w = _withdrawals[msg.sender][token][slot];
        uint256 amount = w.amount;
        if (amount == 0) revert NoWithdrawal(slot);
        uint256 availableAt = uint256(w.requestedAt) + releaseLock;
        if (block.timestamp < availableAt && !escapeOpen()) revert ReleaseLocked(slot, availableAt);
        delete _withdrawals[msg.sender][token][slot];
        emit Release(msg.sender, token, amount, slot);
        _safeTransfer(token, msg.sender, amount);
    }

    function escapeWithdraw(address token) external {
        if (!escapeOpen()) revert EscapeNotOpen(uint256(lastBatchAt) + escapeDelay);
        uint256 amount = balances[msg.sender][token];
        if (amount == 0) revert ZeroAmount();
        balances[msg.sender][token] = 0;
        emit EscapeWithdrawal(msg.sender, token, amount);
        _safeTransfer(token, msg.sender, amount);
    }

    // ----------------------------------------------------------------------------- ledgers

    /// @notice Applies one settlement batch's fund movements (native token units, + = client
    ///  pays). All or nothing: any shortfall reverts the whole call (and the Ledger's batch).
    function updateBalances(
        address[] calldata clients,
        address[] calldata tokens,
        int256[] calldata amounts,
        uint64 backendId
    ) external {
        if (!isLedger[msg.sender]) revert Unauthorized(msg.sender);
        uint256 n = clients.length;
        if (tokens.length != n || amounts.length != n) revert LengthMismatch();
        lastBatchAt = uint64(block.timestamp);
        // Payments in first, so that payouts of the same batch can come out of them.
        for (uint256 i = 0; i < n; ++i) {
            int256 a = amounts[i];
            if (a > 0) {
                uint256 balance = _debit(clients[i], tokens[i], uint256(a), backendId);
                collateral[tokens[i]] += uint256(a);
                emit BalanceUpdated(clients[i], tokens[i], a, balance, backendId);
            }
        }
        for (uint256 i = 0; i < n; ++i) {
            int256 a = amounts[i];
            if (a < 0) {
                uint256 pay = uint256(-a);
                uint256 c = collateral[tokens[i]];
                if (c < pay) revert InsufficientCollateral(tokens[i], pay, c);
                collateral[tokens[i]] = c - pay;
                uint256 balance = balances[clients[i]][tokens[i]] + pay;
                balances[clients[i]][tokens[i]] = balance;
                emit BalanceUpdated(clients[i], tokens[i], a, balance, backendId);
            }
        }
    }

    /// @dev Takes `amount` from the free balance, then from requests younger than `tradeLock`.
    function _debit(address client, address token, uint256 amount, uint64 backendId)
        private
        returns (uint256 balance)
    {
        balance = balances[client][token];
        if (balance >= amount) {
            balance -= amount;
            balances[client][token] = balance;
            return balance;
        }
        uint256 short = amount - balance;
        balances[client][token] = 0;
        balance = 0;
        Withdrawal[5] storage ws = _withdrawals[client][token];
        for (uint8 i = 0; i < MAX_PENDING_WITHDRAWALS && short > 0; ++i) {
            Withdrawal storage w = ws[i];
            uint256 have = w.amount;
            if (have == 0 || block.timestamp >= uint256(w.requestedAt) + tradeLock) continue;
            uint256 take = have < short ? have : short;
            w.amount = uint192(have - take);
            short -= take;
            emit WithdrawalDrawn(client, token, i, take, have - take, backendId);
        }
        if (short > 0) revert InsufficientBalance(client, token, amount, amount - short);
    }

    // ----------------------------------------------------------------------------- views

    function escapeOpen() public view returns (bool) {
        return block.timestamp >= uint256(lastBatchAt) + escapeDelay;
    }

    function withdrawals(address client, address token)
        external
        view
        returns (uint256[5] memory amounts, uint64[5] memory requestedAt)
    {
        Withdrawal[5] storage ws = _withdrawals[client][token];
        for (uint256 i = 0; i < MAX_PENDING_WITHDRAWALS; ++i) {
            amounts[i] = ws[i].amount;
            requestedAt[i] = ws[i].requestedAt;
        }
    }

    function pendingWithdrawals(address client, address token) public view returns (uint256 total) {
        Withdrawal[5] storage ws = _withdrawals[client][token];
        for (uint256 i = 0; i < MAX_PENDING_WITHDRAWALS; ++i) {
            total += ws[i].amount;
        }
    }

    // The original venue's client views (api.md §6; `tradeLock()` and `releaseLock()` are the
    // public variables above — the same selectors, their values fit the original uint32).

    /// @notice The free balance of `client` in `token` (native units).
    function balanceSheet(address client, address token) external view returns (uint256) {
        return balances[client][token];
    }

    /// @notice The withdrawal request in slot `index` (amount 0: the slot is free).
    function fundsToWithdraw(address client, address token, uint8 index)
        external
        view
        returns (uint256 amount, uint32 timestamp)
    {
        if (index >= MAX_PENDING_WITHDRAWALS) revert NoWithdrawal(index);
        Withdrawal storage w = _withdrawals[client][token][index];
        return (w.amount, uint32(w.requestedAt));
    }

    /// @notice Σ of the pending withdrawal requests of `client` in `token`.
    function fundsToWithdrawTotal(address client, address token) external view returns (uint256) {
        return pendingWithdrawals(client, token);
    }

    // ----------------------------------------------------------------------------- tokens

    function _safeTransfer(address token, address to, uint256 amount) private {
        (bool ok, bytes memory data) = token.call(abi.encodeCall(IERC20.transfer, (to, amount)));
        if (!ok || (data.length != 0 && !abi.decode(data, (bool))) || token.code.length == 0) {
            revert TransferFailed(token);
        }
    }

    function _safeTransferFrom(address token, address from, uint256 amount) private {
        (bool ok, bytes memory data) =
            token.call(abi.encodeCall(IERC20.transferFrom, (from, address(this), amount)));
        if (!ok || (data.length != 0 && !abi.decode(data, (bool))) || token.code.length == 0) {
            revert TransferFailed(token);
        }
    }
}
