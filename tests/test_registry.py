import pytest

from raydd.registry import Registry, lookup


def test_register_get_and_list_with_wildcards():
    reg = Registry("widget")

    @reg.register()
    def alpha():
        return 1

    reg.add("alpha2", lambda: 2)
    reg.add("beta", lambda: 3)
    assert reg.get("alpha") is alpha
    assert reg.names("alpha*") == ["alpha", "alpha2"]
    assert reg.names() == ["alpha", "alpha2", "beta"]
    assert "beta" in reg and "gamma" not in reg
    assert len(reg) == 3


def test_duplicate_name_is_refused():
    reg = Registry("widget")
    reg.add("a", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.add("a", 2)


def test_unknown_name_lists_known_names():
    reg = Registry("widget")
    reg.add("a", 1)
    reg.add("b", 2)
    with pytest.raises(ValueError, match=r"unknown widget 'c'; known: a, b"):
        reg.get("c")


def test_lookup_in_a_plain_table_names_the_known_entries():
    table = {"relu": 1, "sigmoid": 2}
    assert lookup(table, "relu", "activation") == 1
    with pytest.raises(ValueError, match=r"unknown activation 'tanh'; known: relu, sigmoid"):
        lookup(table, "tanh", "activation")
    with pytest.raises(ValueError, match=r"unknown activation \['relu'\]"):  # unhashable, e.g. a YAML list
        lookup(table, ["relu"], "activation")
