"""Host and launch costs are the host's (its CPU and framework), not the GPU's: a transfer takes them from the donor's
host and says whose, and `profiles new --host` records the host a new part will have (analyzer/profiles/transfer.py)."""

import pytest

from analyzer.profiles import load_profiles
from analyzer.profiles.transfer import HOST_KEYS, is_host_key, transfer_note
from cli_helpers import cli

QUADRO = ["--peak-tflops", "fp32=16.3", "--peak-tflops", "fp16=130.5", "--memory-bandwidth-gbps", "672", "--tdp-w", "295",
          "--sm-count", "72", "--l2-cache-mb", "6", "--source", "NVIDIA Quadro RTX 6000 datasheet", "--year", "2018"]


def test_the_calibrated_donor_states_its_host():
    donor = load_profiles().get("hardware", "h100-sxm-calibrated")
    assert donor.host.startswith("Intel Xeon (16 vCPUs), PyTorch 2.11")  # profiles/measurements/h100-sxm-2026-11-27/env.json


@pytest.mark.parametrize("name", ["v100", "t4", "a100-80gb", "h200"])
def test_transferred_host_costs_name_the_donors_host(name):
    hw = load_profiles().get("hardware", name)
    donor = load_profiles().get("hardware", hw.transfer["from"])
    host_keys = [k for k in hw.projection if is_host_key(k)]
    assert {"host_eager_conv_s", "graph_gap_s"} <= set(host_keys)
    for k in host_keys:
        s = hw.projection[k]
        assert s.kind == "transferred" and s.value == donor.projection[k].value
        assert f"{donor.name}'s host ({donor.host})" in s.source and "not the GPU" in s.source
    assert not any(is_host_key(k) for k in hw.projection if "the family's kernel curve" in hw.projection[k].source)
    assert hw.host == donor.host and f"host and launch costs are those of {donor.name}'s host" in transfer_note(hw)
    assert set(HOST_KEYS) >= {"gap_s", "forward_s"}


def test_profiles_new_records_its_host_and_the_provenance_says_it_differs(tmp_path):
    r = cli("profiles", "new", "quadro-rtx-6000", "--out", tmp_path, "--host", "AMD EPYC 7742, PyTorch 2.4 eager", *QUADRO)
    assert r.exit_code == 0, r.output
    assert 'host = "AMD EPYC 7742, PyTorch 2.4 eager"' in (tmp_path / "hardware" / "quadro-rtx-6000.toml").read_text()
    hw = load_profiles((tmp_path,)).get("hardware", "quadro-rtx-6000")
    assert hw.host == "AMD EPYC 7742, PyTorch 2.4 eager"
    src = hw.projection["host_eager_conv_s"].source
    assert "h100-sxm-calibrated's host (Intel Xeon" in src and "this part's host (AMD EPYC 7742, PyTorch 2.4 eager) differs" in src
    assert "nor its stated host's (AMD EPYC 7742" in transfer_note(hw).replace("\n", " ")
