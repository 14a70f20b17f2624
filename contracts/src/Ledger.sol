// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "./IERC20.sol";

interface IFundLock {
    function updateBalances(
        address[] calldata clients,
        address[] calldata tokens,
        int256[] calldata amounts,
        uint64 backendId
    ) external;
}

/// @title Ledger — positions and fund movements of one currency pair (spec/settlement.md §1).
/// @notice `updatePositions` applies one settlement batch, all or nothing, at most once per
///  `backendId` (the idempotency key). Amounts arrive in the currencies' API precision units and
///  are scaled by `10^(decimals − precision)` before they reach the FundLock.
contract Ledger {
    struct PositionParam {
        uint32 contractId;
        address client;
        int256 size; // delta in lots of the API precision: + long, − short
    }

    struct FundMovementParam {
        address client;
        int256 underlyingAmount; // + the client pays, − it receives (precision units)
        int256 strikeAmount;
    }

    IFundLock public immutable fundLock;
    address public immutable underlyingToken;
    address public immutable strikeToken;
    uint8 public immutable underlyingPrecision;
    uint8 public immutable strikePrecision;
    int256 public immutable underlyingScale;
    int256 public immutable strikeScale;
    string public pair;

    address public admin;
    mapping(address => bool) public isOperator;
    mapping(uint64 backendId => bool) public applied;
    mapping(uint256 contractId => mapping(address client => int256)) public positions;

    event AdminChanged(address indexed previousAdmin, address indexed newAdmin);
    event OperatorSet(address indexed operator, bool enabled);
    event PositionUpdated(
        uint32 indexed contractId, address indexed client, int256 delta, int256 position, uint64 indexed backendId
    );
    event PositionsUpdated(uint64 indexed backendId, uint256 positionCount, uint256 fundMovementCount);

    error Unauthorized(address caller);
    error ZeroAddress();
    error InvalidPrecision(address token, uint8 decimals, uint8 precision);
    error EmptyBatch();
    error DuplicateBackendId(uint64 backendId);

    constructor(
        address fundLock_,
        string memory pair_,
        address underlyingToken_,
        uint8 underlyingPrecision_,
        address strikeToken_,
        uint8 strikePrecision_
    ) {
        if (fundLock_ == address(0) || underlyingToken_ == address(0) || strikeToken_ == address(0)) {
            revert ZeroAddress();
        }
        fundLock = IFundLock(fundLock_);
        pair = pair_;
        underlyingToken = underlyingToken_;
        strikeToken = strikeToken_;
        underlyingPrecision = underlyingPrecision_;
        strikePrecision = strikePrecision_;
        underlyingScale = _scale(underlyingToken_, underlyingPrecision_);
        strikeScale = _scale(strikeToken_, strikePrecision_);
        admin = msg.sender;
        emit AdminChanged(address(0), msg.sender);
    }

    function _scale(address token, uint8 precision) private view returns (int256) {
        uint8 decimals = IERC20(token).decimals();
        if (decimals < precision) revert InvalidPrecision(token, decimals, precision);
        return int256(10 ** uint256(decimals - precision));
    }

    function setAdmin(address newAdmin) external {
        if (msg.sender != admin) revert Unauthorized(msg.sender);
        if (newAdmin == address(0)) revert ZeroAddress();
        emit AdminChanged(admin, newAdmin);
        admin = newAdmin;
    }

    function setOperator(address operator, bool enabled) external {
        if (msg.sender != admin) revert Unauthorized(msg.sender);
        if (operator == address(0)) revert ZeroAddress();
        isOperator[operator] = enabled;
        emit OperatorSet(operator, enabled);
    }

    function updatePositions(
        PositionParam[] calldata positionParams,
        FundMovementParam[] calldata fundMovements,
        uint64 backendId
    ) external {
        if (!isOperator[msg.sender]) revert Unauthorized(msg.sender);
        if (positionParams.length == 0 && fundMovements.length == 0) revert EmptyBatch();
        if (applied[backendId]) revert DuplicateBackendId(backendId);
        applied[backendId] = true;

        for (uint256 i = 0; i < positionParams.length; ++i) {
            PositionParam calldata p = positionParams[i];
            int256 position = positions[p.contractId][p.client] + p.size;
            positions[p.contractId][p.client] = position;
            emit PositionUpdated(p.contractId, p.client, p.size, position, backendId);
        }

        uint256 n = fundMovements.length * 2;
        address[] memory clients = new address[](n);
        address[] memory tokens = new address[](n);
        int256[] memory amounts = new int256[](n);
        for (uint256 i = 0; i < fundMovements.length; ++i) {
            FundMovementParam calldata f = fundMovements[i];
            clients[2 * i] = f.client;
            tokens[2 * i] = underlyingToken;
            amounts[2 * i] = f.underlyingAmount * underlyingScale;
            clients[2 * i + 1] = f.client;
            tokens[2 * i + 1] = strikeToken;
            amounts[2 * i + 1] = f.strikeAmount * strikeScale;
        }
        // Called even without fund movements: it records that a batch landed (escape hatch clock).
        fundLock.updateBalances(clients, tokens, amounts, backendId);
        emit PositionsUpdated(backendId, positionParams.length, fundMovements.length);
    }
}
