"""The Codec base class checks declared option types and compares by configuration."""

from __future__ import annotations

import pytest

from frappe_cli.codec import Codec
from frappe_cli.errors import OptionError


class Typed(Codec):
    codec_id = "test-typed"
    options = {"count": int, "rate": float, "name": str, "size": (int, str), "on": bool}

    def encode_block(self, data, hint=None):
        return bytes(data)

    def decode_block(self, payload, size):
        return bytes(payload)


@pytest.mark.parametrize("params", [
    {"count": 3}, {"rate": 2}, {"rate": 0.5}, {"name": "x"}, {"size": 7}, {"size": "6M"},
    {"on": True}, {"count": None},
])
def test_declared_types_accept(params):
    assert Typed(**params).params == params


@pytest.mark.parametrize("params,msg", [
    ({"count": "3"}, "option count must be an integer, not '3'"),
    ({"count": True}, "option count must be an integer, not True"),
    ({"count": 1.5}, "option count must be an integer"),
    ({"rate": "fast"}, "option rate must be a number"),
    ({"rate": False}, "option rate must be a number"),
    ({"name": 5}, "option name must be a string"),
    ({"size": 1.5}, "option size must be an integer or a string"),
    ({"on": 1}, "option on must be true or false"),
])
def test_declared_types_refuse(params, msg):
    with pytest.raises(OptionError, match=msg):
        Typed(**params)


def test_codecs_compare_by_configuration():
    a, b, c = Typed(count=3), Typed(count=3), Typed(count=4)
    assert a == b and hash(a) == hash(b)
    assert a != c
    assert Typed(level=5, count=3) != a
    assert len({a, b, c}) == 2
    assert a != object()
