"""The golden outputs of tests/golden_cases.py hold (see there for what they pin and why)."""

import json

import pytest
import torch

from golden_cases import ATOL, CASES, EXPECTED, RTOL, run_case

EXPECTED_VALUES = json.loads(EXPECTED.read_text())


def test_every_case_has_an_expectation():
    assert sorted(EXPECTED_VALUES) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name):
    got, expected = run_case(name), EXPECTED_VALUES[name]
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        if key == "archs":
            assert got[key] == value
        else:
            torch.testing.assert_close(torch.tensor(got[key], dtype=torch.float64),
                                       torch.tensor(value, dtype=torch.float64), rtol=RTOL, atol=ATOL,
                                       msg=lambda m: f"{name}.{key}: {m}")


def test_checksum_sees_a_small_change():
    from golden_cases import checksum

    x = torch.randn(1000, generator=torch.Generator().manual_seed(1))
    a, b = torch.tensor(checksum(x)), torch.tensor(checksum(x * (1 + 1e-3)))
    assert not torch.allclose(a, b, rtol=RTOL, atol=ATOL)


def test_a_case_runs_on_one_thread_and_the_count_comes_back(monkeypatch):
    import golden_cases

    monkeypatch.setitem(golden_cases.CASES, "probe", lambda: {"threads": torch.get_num_threads()})
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert run_case("probe") == {"threads": 1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
