"""`profiles new` (issue #34): a hardware profile from a datasheet's numbers, its family recognised or named and its
defaults from profiles/families.toml, validated by the loader, written atomically, never shadowing by accident."""

import json

import pytest

from analyzer.errors import ProfileError, UsageError
from analyzer.profiles import load_profiles, projection_defaults
from analyzer.profiles.families import families, infer_family
from analyzer.profiles.new import NewHardware, new_hardware, write_profile
from analyzer.project import resolve_params
from cli_helpers import cli

# NVIDIA Quadro RTX 6000 datasheet (2018): 16.3 TFLOPS fp32, 130.5 fp16 tensor, 24 GB at 672 GB/s, 295 W, 72 SMs, 6 MB L2
QUADRO = ["--peak-tflops", "fp32=16.3", "--peak-tflops", "fp16=130.5", "--memory-gb", "24", "--memory-bandwidth-gbps", "672",
          "--tdp-w", "295", "--sm-count", "72", "--l2-cache-mb", "6", "--source", "NVIDIA Quadro RTX 6000 datasheet",
          "--year", "2018"]


@pytest.mark.parametrize("text, family", [
    ("Quadro RTX 6000", "turing"), ("NVIDIA RTX 6000 Ada Generation", "ada"), ("RTX A6000", "ampere"),
    ("TITAN RTX", "turing"), ("GeForce RTX 2080 Ti", "turing"), ("RTX 4090", "ada"), ("RTX 3090", "ampere"),
    ("H100 PCIe", "hopper"), ("gh200", "hopper"), ("B200", "blackwell"), ("Tesla V100-SXM2", "volta"), ("L4", "ada"),
    ("A100 80GB", "ampere"), ("Ampere Altra Max", "arm"), ("AWS Graviton3", "arm"), ("AMD EPYC 9654", "x86"),
    ("Intel Xeon Gold 6226", "x86"), ("Jetson AGX Orin", "jetson"), ("Apple M2 Max", "apple"),
    ("Snapdragon 8 Gen 3", "phone"), ("Tesla P100", "pascal"), ("t4", "turing")])
def test_the_family_is_recognised_from_the_name(text, family):
    assert infer_family(text) == family


def test_no_family_is_guessed_from_an_unknown_name():
    assert infer_family("Frobnicator 9000") is None
    with pytest.raises(UsageError, match="no family recognised.*family"):
        new_hardware(NewHardware("frob-9000", "a sheet", 2024, {"fp32": 1.0}, {"memory_bandwidth_gbps": 100, "tdp_w": 50}))


def test_datasheet_values_as_stated_the_rest_from_the_family():
    req = NewHardware("quadro-rtx-6000", "NVIDIA Quadro RTX 6000 datasheet", 2018, {"fp32": 16.3, "fp16": 130.5},
                      {"memory_bandwidth_gbps": 672, "tdp_w": 295, "sm_count": 72})
    hw = new_hardware(req)
    assert (hw.family, hw.category) == ("turing", "gpu")
    assert hw.peak_tflops["fp32"].value == 16.3 and hw.peak_tflops["fp32"].kind == "datasheet"
    assert hw.tdp_w.source == "datasheet: NVIDIA Quadro RTX 6000 datasheet" and hw.tdp_w.year == 2018
    share = families()["turing"].values["idle_share_of_tdp"].value
    assert hw.idle_w.value == pytest.approx(295 * share) and hw.idle_w.kind == "estimated"
    assert "turing family default" in hw.idle_w.source
    assert hw.max_threads_per_sm.value == 1024  # compute capability 7.5
    assert "turing family default" in hw.embodied_co2e_kg.source


def test_a_named_family_wins_and_a_cpu_family_has_no_sms():
    hw = new_hardware(NewHardware("my-box", "a sheet", 2023, {"fp32": 3.0}, {"memory_bandwidth_gbps": 90, "tdp_w": 125},
                                  family="x86"))
    assert (hw.family, hw.category, hw.max_threads_per_sm) == ("x86", "cpu", None)


@pytest.mark.parametrize("change, needle", [
    ({"peak_tflops": {}}, "peak_tflops"), ({"peak_tflops": {"fp33": 1.0}}, "unknown dtype"),
    ({"values": {"tdp_w": 295}}, "memory_bandwidth_gbps: required"),
    ({"values": {"memory_bandwidth_gbps": -1, "tdp_w": 295}}, "memory_bandwidth_gbps -1"),
    ({"values": {"memory_bandwidth_gbps": 672, "tdp_w": 295, "idle_w": 400}}, "exceeds"),
    ({"source": " "}, "source"), ({"name": "My Card"}, "profile name"), ({"family": "kepler"}, "family 'kepler'")])
def test_bad_datasheet_input_is_refused(change, needle):
    base = dict(name="quadro-rtx-6000", source="sheet", year=2018, peak_tflops={"fp32": 16.3},
                values={"memory_bandwidth_gbps": 672, "tdp_w": 295})
    with pytest.raises(UsageError, match=needle):
        new_hardware(NewHardware(**{**base, **change}))


def test_cli_writes_loads_and_projects_with_the_family_path(tmp_path):
    r = cli("profiles", "new", "quadro-rtx-6000", "--out", tmp_path, *QUADRO)
    assert r.exit_code == 0, r.output
    path = tmp_path / "hardware" / "quadro-rtx-6000.toml"
    assert f"wrote hardware profile 'quadro-rtx-6000' to {path}" in r.output.replace("\n", "")
    assert "turing family's efficiency_simt_conv = 0.77" in r.output.replace("\n", " ")
    hw = load_profiles((tmp_path,)).get("hardware", "quadro-rtx-6000")
    assert hw.projection["efficiency_simt_conv"].value == families()["turing"].projection["efficiency_simt_conv"].value
    assert hw.transfer["steps"] == 2  # curves of the measured H100 (another family), but not for the FP32 convolutions
    p = resolve_params(hw, "fp32", "eager", projection_defaults())
    assert p.classes["conv"].unit == "fp32"
    assert p.classes["conv"].rate_flops_per_s == pytest.approx(16.3e12 * hw.projection["efficiency_simt_conv"].value)
    # the tensor-core path keeps the transferred value
    h = resolve_params(hw, "fp16", "eager", projection_defaults())
    assert h.classes["conv"].rate_flops_per_s == pytest.approx(130.5e12 * hw.projection["efficiency_conv"].value)
    assert not list(tmp_path.rglob(".*.toml"))  # no temporary file left


def test_an_ampere_fp32_convolution_stays_on_tf32_tensor_cores():
    hw = load_profiles().get("hardware", "a100-80gb")
    p = resolve_params(hw, "fp32", "eager", projection_defaults())
    assert p.classes["conv"].unit == "tf32"
    assert p.classes["conv"].rate_flops_per_s == pytest.approx(hw.peak_tflops["tf32"].value * 1e12 * hw.projection["efficiency_conv"].value)


def test_cli_json_names_the_path_and_family(tmp_path):
    r = cli("profiles", "new", "quadro-rtx-6000", "--out", tmp_path, "--format", "json", *QUADRO)
    d = json.loads(r.output)
    assert (d["name"], d["family"], d["path"]) == ("quadro-rtx-6000", "turing", str(tmp_path / "hardware" / "quadro-rtx-6000.toml"))
    assert d["profile"]["tdp_w"]["kind"] == "datasheet"


def test_a_shipped_name_is_not_shadowed_unless_asked(tmp_path):
    r = cli("profiles", "new", "t4", "--out", tmp_path, *QUADRO)
    assert r.exit_code == 2 and "shipped profile 't4'" in r.output and "--shadow" in r.output
    assert not (tmp_path / "hardware").exists()
    r = cli("profiles", "new", "mine", "--alias", "tesla-t4", "--family", "turing", "--out", tmp_path, *QUADRO)
    assert r.exit_code == 2 and "shipped profile 't4'" in r.output
    r = cli("profiles", "new", "t4", "--out", tmp_path, "--shadow", *QUADRO)
    assert r.exit_code == 0 and "overrides the shipped 't4'" in r.output.replace("\n", "")


def test_an_existing_file_is_kept_unless_forced(tmp_path):
    out = tmp_path / "card.toml"
    out.write_text("keep me")
    r = cli("profiles", "new", "quadro-rtx-6000", "--out", out, *QUADRO)
    assert r.exit_code == 2 and "--force" in r.output and out.read_text() == "keep me"
    r = cli("profiles", "new", "quadro-rtx-6000", "--out", out, "--force", *QUADRO)
    assert r.exit_code == 0 and 'name = "quadro-rtx-6000"' in out.read_text()


@pytest.mark.parametrize("args, needle", [
    (["--peak-tflops", "fp32"], "--peak-tflops 'fp32'"), (["--family", "kepler"], "--family 'kepler'"),
    (["--tdp-w", "nan"], "tdp"), (["--memory-bandwidth-gbps", "0"], "--memory-bandwidth-gbps 0")])
def test_cli_errors_are_one_line_and_write_nothing(tmp_path, args, needle):
    r = cli("profiles", "new", "quadro-rtx-6000", "--out", tmp_path, *QUADRO, *args)
    assert r.exit_code == 2 and needle in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert not (tmp_path / "hardware").exists()


def test_an_invalid_profile_text_is_never_written(tmp_path):
    path = tmp_path / "hardware" / "x.toml"
    with pytest.raises(ProfileError, match="memory_bandwidth_gbps"):
        write_profile(path, 'name = "x"\ntitle = "x"\ncategory = "gpu"\nembodied_method = "per card"\n'
                            '[peak_tflops]\nfp32 = { value = 1, source = "s", year = 2020, kind = "datasheet" }\n')
    assert not path.exists() and not list(tmp_path.rglob("*.toml"))


def test_transfer_by_precision_path_not_from_one_card():
    """A pre-Ampere part's FP32 convolutions run on the FMA units: its family's value for that path (profiles/
    families.toml), not the calibrated H100's TF32 tensor-core efficiency, which still drives its fp16 path."""
    ps = load_profiles()
    t4, h100 = ps.get("hardware", "t4"), ps.get("hardware", "h100-sxm-calibrated")
    simt = families()["turing"].projection["efficiency_simt_conv"].value
    assert simt == pytest.approx(51.5 / 66.9, abs=0.005)  # the H100's measured FP32 GEMM fraction, the same path
    p = resolve_params(t4, "fp32", "eager", projection_defaults())
    assert p.classes["conv"].rate_flops_per_s == pytest.approx(8.1e12 * simt)
    assert p.classes["conv1x1"].rate_flops_per_s == pytest.approx(8.1e12 * simt)
    h = resolve_params(t4, "fp16", "eager", projection_defaults())
    assert h.classes["conv"].rate_flops_per_s == pytest.approx(65e12 * h100.projection["efficiency_conv"].value)
    assert "efficiency_simt_conv" not in h100.projection  # a measured part keeps its own fit
    q = resolve_params(h100, "fp32", "eager", projection_defaults())
    assert q.classes["conv"].unit == "tf32"
