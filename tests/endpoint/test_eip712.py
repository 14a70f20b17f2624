"""EIP-712 of the client API: every vector of api.md §2 and §3, both dialects, and speed."""

from __future__ import annotations

import time

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from endpoint import eip712
from endpoint.eip712 import SignatureError, elektro, ithaca

KEY = 0x12001
ADDRESS = "0xbd44572e53343A0f003b719cf438C6338bD29d9C"
NONCE = "auth-request-for-0xbd44572e53343a0f003b719cf438c6338bd29d9c-4157310944914892772"

LOGIN_VECTORS = [
    (elektro(1), "1B.3B7636212157F57A934164D616EB497ED7C6B799B2934BC74F993A2A0B7220CA."
                 "5C8E2CD93DD3B4FFF3CE4E82176967EF0679B66A8C99995E3C5E8B2258A06C97"),
    (elektro(1337), "1B.84C55FA150A7AA145B21D2169AE31764B7CBAE768AC13A06613A979F0D7D95E5."
                    "3C98405BAF7196F801C11582BBD4D0690D3837F763C6828E22545AD2D05DE0A5"),
    (ithaca(), "1b.0042484607c26f7e084859da815186068052646b176754ab1355d9790a247e0a."
               "369052b63201432e7b0130d5f8c91d7a96369fc78a19e480caddb5e8d95e5087"),
]

ORDER_VECTORS = [
    (elektro(1), dict(order_id=1676258037557249, price="330.00000000",
                      legs=[(1, "BUY", "30.00000000")]),
     "1C.273FFD7E9ADA7C3DE33BA4B30958720F565CCBF2EE96353AED8D49687B5D05B8."
     "04E416E3E081EEC7DE4CDC1357740BAA6C48BC5ABC3B761A25BEFA094F890352"),
    (elektro(1337), dict(order_id=1604911104000001, price="110.0000",
                         legs=[(4925, "SELL", "100.00000000"), (4926, "BUY", "100.00000000")]),
     "1B.C04734C58C7467AF7D04579959D81DDD0B9F7F9E86417AA5E263E1C456D7D123."
     "3BA584CEC49A3328DC11A1FF88AAD912FC3671CC1F8E0CEA9328F332D3315E22"),
    (ithaca(), dict(order_id=1604911104000001, price="110.0000",
                    legs=[(4925, "SELL", "100.0000"), (4926, "BUY", "100.0000")],
                    single_price=True),
     "1c.ab0880f996e42e7675d31dcf8d8c3d5c101d2912e9dd58cad7417f894a23e424."
     "363f4c2424dafb66583d30114f3a0f9224a0a219f7c82c47a442fccdc5e2b12f"),
    (ithaca(), dict(order_id=1676258037557249, price="330.00000000",
                    legs=[(1, "BUY", "30.0000")], single_price=False,
                    ioc_auction_time=1676258040000),
     "1c.b4d29438a571a30a15ec37b0f6aa8f3b5252ed2b030c45f23facb22878704eec."
     "576b887f75703b65f0c368d6065f88ce5bd0b5ee24db5a28ed15b26cd684314d"),
]


def _order(domain, **kw):
    return eip712.order(domain, order_type="LIMIT", time_in_force="GOOD_TILL_CANCEL",
                        address=ADDRESS, **kw)


def test_key_and_address():
    assert eip712.address_of(KEY) == ADDRESS


@pytest.mark.parametrize(("domain", "signature"), LOGIN_VECTORS)
def test_login_vectors(domain, signature):
    typed = eip712.login(NONCE, domain)
    assert eip712.sign(typed, KEY).lower() == signature.lower()
    assert eip712.recover(typed, signature) == ADDRESS.lower()
    assert eip712.recover(typed, signature.swapcase()) == ADDRESS.lower()


@pytest.mark.parametrize(("domain", "fields", "signature"), ORDER_VECTORS)
def test_order_vectors(domain, fields, signature):
    typed = _order(domain, **fields)
    assert eip712.sign(typed, KEY).lower() == signature.lower()
    assert eip712.recover(typed, signature) == ADDRESS.lower()


@pytest.mark.parametrize(("domain", "fields", "signature"), ORDER_VECTORS)
def test_digest_matches_eth_account(domain, fields, signature):
    """Our direct hashing agrees with eth-account's general EIP-712 encoder."""
    typed = _order(domain, **fields)
    signable = encode_typed_data(full_message=typed.to_dict())
    assert keccak(b"\x19" + signable.version + signable.header + signable.body) \
        == typed.digest()
    signed = Account.sign_message(signable, KEY.to_bytes(32, "big"))
    assert eip712.format_signature(signed.v, signed.r, signed.s).lower() == signature.lower()


def test_legs_are_signed_sorted_by_contract():
    a = _order(elektro(1337), order_id=1604911104000001, price="110.0000",
               legs=[(4926, "BUY", "100.00000000"), (4925, "SELL", "100.00000000")])
    assert eip712.sign(a, KEY) == ORDER_VECTORS[1][2]


def test_wrong_chain_price_string_or_key_recovers_another_address():
    sig = ORDER_VECTORS[0][2]
    other_chain = _order(elektro(1337), **ORDER_VECTORS[0][1])
    assert eip712.recover(other_chain, sig) != ADDRESS.lower()
    changed = dict(ORDER_VECTORS[0][1], price="330.0000")
    assert eip712.recover(_order(elektro(1), **changed), sig) != ADDRESS.lower()
    typed = eip712.login(NONCE, ithaca())
    assert eip712.recover(typed, eip712.sign(typed, 0x12002)) != ADDRESS.lower()


def test_extensions_change_the_signed_type():
    base = dict(order_id=1, price="1.00", legs=[(1, "BUY", "1")])
    plain = _order(ithaca(), **base)
    aon = _order(ithaca(), **base, all_or_none=False)
    assert plain.digest() != aon.digest()
    assert [n for n, _ in aon.types[0][1]][-2:] == ["allOrNone", "leg0"]
    full = _order(ithaca(), **base, single_price=False, ioc_auction_time=5, all_or_none=True,
                  min_quantity=2, reduce_only=True)
    assert [n for n, _ in full.types[0][1]][5:] == [
        "singlePrice", "iocAuctionTime", "allOrNone", "minQuantity", "reduceOnly", "leg0"]
    signable = encode_typed_data(full_message=full.to_dict())
    signed = Account.sign_message(signable, KEY.to_bytes(32, "big"))
    assert eip712.recover(full, eip712.format_signature(signed.v, signed.r, signed.s)) \
        == ADDRESS.lower()


@pytest.mark.parametrize("bad", ["", "1B", "1B.00.00", "zz." + "0" * 64 + "." + "0" * 64,
                                 "1B." + "0" * 64 + "." + "1" * 64, "1D." + "1" * 64 + "." + "1" * 64,
                                 None, 5])
def test_malformed_signatures(bad):
    with pytest.raises(SignatureError):
        eip712.recover(eip712.login(NONCE, ithaca()), bad)


@settings(max_examples=30, deadline=None)
@given(key=st.integers(1, 2**255), nonce=st.text(max_size=80), chain=st.integers(0, 2**64))
def test_sign_recover_round_trip(key, nonce, chain):
    for domain in (elektro(chain), ithaca()):
        typed = eip712.login(nonce, domain)
        assert eip712.recover(typed, eip712.sign(typed, key)) == eip712.address_of(key).lower()


def test_recovery_is_fast():
    """Recovery is on the hot path: hashing + recovery well under a millisecond each."""
    typed = _order(elektro(1), **ORDER_VECTORS[0][1])
    sig = ORDER_VECTORS[0][2]
    n = 500
    t0 = time.perf_counter()
    for _ in range(n):
        eip712.recover(typed, sig)
    per = (time.perf_counter() - t0) / n
    print(f"recover (hash + ecrecover): {per * 1e6:.0f} µs")
    assert per < 0.002
