"""``qglc import pandapower``: the CSV tables and the model, and the round trips against
pandapower's own numbers (RTS-24 DC OPF 61,001.24 $/h with its dispatch and flows; case33bw's
DC power flow), what is skipped or merged (out-of-service elements, open and closed switches),
transformers with taps, the safe JSON reader, the errors and the real ``qglc`` process."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pp = pytest.importorskip("pandapower")
pn = pytest.importorskip("pandapower.networks")

from qgridlang.checker import check_file  # noqa: E402
from qgridlang.dispatcher import solve_model  # noqa: E402
from qgridlang.errors import UsageError  # noqa: E402
from qgridlang.network_io.pandapower_import import (  # noqa: E402
    extract,
    import_network,
    quiet,
)
from qgridlang.results import Status  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "networks"


def rows(path: Path) -> list[dict[str, str]]:
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith("#")]
    return list(csv.DictReader(lines))


def solve(model: Path, **flow: str) -> Any:
    if flow:  # switch the formulation as the model's header says: edit one line
        text = model.read_text()
        old = next(ln for ln in text.splitlines() if ln.startswith("network flow = "))
        model = model.with_name(model.stem + "_" + flow["flow"] + ".qgl")
        model.write_text(text.replace(old, f"network flow = {flow['flow']}"))
    sol = solve_model(check_file(model), "highs")
    assert sol.status == Status.OPTIMAL and sol.feasible, sol.message
    return sol


@pytest.fixture(scope="module")
def rts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return import_network("case24_ieee_rts", tmp_path_factory.mktemp("rts")).model


@pytest.fixture(scope="module")
def bw33(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return import_network("case33bw", tmp_path_factory.mktemp("bw33")).model


def test_rts24_dc_opf_reproduces_pandapower(rts: Path) -> None:
    text = rts.read_text()
    assert "network flow = dc" in text and "meshed" in text  # parallel lines: a loop
    net = pn.case24_ieee_rts()
    with quiet():
        pp.rundcopp(net, numba=False)
    sol = solve(rts)
    assert net.res_cost == pytest.approx(61001.24, abs=0.005)  # SPECS: the base case
    assert sol.objective == pytest.approx(net.res_cost, rel=1e-7)
    assert sol.objective_unit == "$"  # one period of 1 h: $/h
    v = sol.variables
    for table, inst in (("gen", "gen"), ("sgen", "sgen"), ("ext_grid", "grid")):
        for i in net[table].index:
            ours = v[f"{inst}[{table}{i}].output"]["1"]
            assert ours == pytest.approx(net["res_" + table].p_mw[i], abs=1e-4), (table, i)
    ours = [v[f"l[line{i}].p"]["1"] for i in net.line.index] + \
        [v[f"l[trafo{i}].p"]["1"] for i in net.trafo.index]
    theirs = np.concatenate([net.res_line.p_from_mw.values, net.res_trafo.p_hv_mw.values])
    assert np.allclose(ours, theirs, atol=1e-4)


def test_case33bw_dc_flows_match_rundcpp(bw33: Path) -> None:
    net = pn.case33bw()
    with quiet():
        pp.rundcpp(net, numba=False)
    sol = solve(bw33, flow="dc")
    live = net.line.index[net.line.in_service]
    ours = np.array([sol.variables[f"l[line{i}].p"]["1"] for i in live])
    assert np.allclose(ours, net.res_line.p_from_mw[live].values, atol=1e-6)
    assert sol.objective == pytest.approx(3.715 * 20)  # 20 $/MWh at the external grid


def test_case33bw_tables_and_lindistflow(bw33: Path) -> None:
    """32 lines in service (the 5 open ties skipped), loads 3715 kW / 2300 kvar (SPECS §A2);
    LinDistFlow carries every load downstream, losslessly."""
    d = bw33.parent
    lines, loads, buses = rows(d / "lines.csv"), rows(d / "loads.csv"), rows(d / "buses.csv")
    assert len(buses) == 33 and len(lines) == 32 and len(loads) == 32
    assert {int(r["element"]) for r in lines} == set(range(32))  # 32..36 are the ties
    assert sum(float(r["p_mw"]) for r in loads) == pytest.approx(3.715)
    assert sum(float(r["q_mvar"]) for r in loads) == pytest.approx(2.3)
    assert [r for r in buses if r["slack"] == "1"] == [buses[0]] and buses[0]["bus"] == "0"
    assert all(r["rating_mw"] == "" for r in lines)  # max_i_ka = 99999: MATPOWER's rateA = 0
    head = bw33.read_text()
    assert "network flow = lindistflow" in head and "radial" in head
    sol = solve(bw33)
    assert sol.variables["l[line0].p"]["1"] == pytest.approx(3.715)
    assert sol.variables["l[line0].q"]["1"] == pytest.approx(2.3)
    # the first line's voltage drop by hand: v2 = 1 - 2 (r P + x Q) / vn^2
    r0 = next(r for r in lines if r["line"] == "line0")
    v2 = 1 - 2 * (float(r0["r_ohm"]) * 3.715 + float(r0["x_ohm"]) * 2.3) / 12.66 ** 2
    assert sol.variables["b[1].v2"]["1"] == pytest.approx(v2, rel=1e-9)


def feeder(ring: bool = False) -> Any:
    """Four buses at 20 kV under a 110/20 kV transformer with an off-nominal tap on its LV
    side; a closed bus-bus switch splits bus 3; an out-of-service line; a ring line behind an
    open (or, with ``ring``, a closed) line switch."""
    net = pp.create_empty_network(sn_mva=10)
    hv = pp.create_bus(net, 110, name="hv")
    b = [pp.create_bus(net, 20, name=f"b{k}") for k in range(5)]
    pp.create_ext_grid(net, hv, vm_pu=1.02)
    pp.create_transformer_from_parameters(
        net, hv, b[0], sn_mva=40, vn_hv_kv=110, vn_lv_kv=20, vkr_percent=0.5, vk_percent=12,
        pfe_kw=0, i0_percent=0, tap_side="lv", tap_neutral=0, tap_pos=-2,
        tap_step_percent=1.5, tap_changer_type="Ratio")
    mk = pp.create_line_from_parameters
    mk(net, b[0], b[1], 2.0, 0.2, 0.35, 0, 0.4)
    mk(net, b[1], b[2], 1.5, 0.25, 0.4, 0, 0.4)
    mk(net, b[0], b[3], 3.0, 0.2, 0.35, 0, 0.4)
    tie = mk(net, b[2], b[3], 1.0, 0.3, 0.4, 0, 0.4)
    mk(net, b[1], b[3], 1.0, 0.3, 0.4, 0, 0.4, in_service=False)
    pp.create_switch(net, b[2], tie, et="l", closed=ring)
    pp.create_switch(net, b[3], b[4], et="b", closed=True)  # b4 is b3
    for k, (p, q) in enumerate([(2.0, 0.8), (3.0, 1.0), (1.5, 0.5), (1.0, 0.3)], start=1):
        pp.create_load(net, b[k], p_mw=p, q_mvar=q)
    pp.create_sgen(net, b[2], p_mw=1.2, q_mvar=0.0)
    pp.create_poly_cost(net, 0, "ext_grid", cp1_eur_per_mw=50)
    return net


@pytest.mark.parametrize("ring", [False, True], ids=["open_tie", "closed_tie"])
def test_switches_taps_and_dc_flows(tmp_path: Path, ring: bool) -> None:
    net = feeder(ring)
    imp = extract(net, "feeder", "feeder")
    assert imp.radial is not ring
    assert imp.formulation == ("dc" if ring else "lindistflow")
    assert [r["bus"] for r in imp.buses] == [0, 1, 2, 3, 4]  # bus 5 joins bus 4 (b3)
    assert {r["bus"] for r in imp.loads} == {2, 3, 4}
    trafo = next(r for r in imp.lines if r["kind"] == "trafo")
    assert trafo["tap_ratio"] == pytest.approx(1 / (1 - 0.03))  # LV-side tap at -2 x 1.5 %
    assert len(imp.lines) == 4 + ring
    path = import_network(str(save(net, tmp_path)), tmp_path / "out").model
    with quiet():
        pp.rundcpp(net, numba=False)
    sol = solve(path, flow="dc")
    v = sol.variables
    for i in net.line.index[net.line.in_service]:
        if ring or i != 3:
            assert v[f"l[line{i}].p"]["1"] == pytest.approx(net.res_line.p_from_mw[i], abs=1e-9)
    assert v["l[trafo0].p"]["1"] == pytest.approx(net.res_trafo.p_hv_mw[0], abs=1e-9)


def save(net: Any, folder: Path) -> Path:
    path = folder / "feeder.json"
    with quiet():
        pp.to_json(net, str(path))
    return path


def test_json_import_equals_the_named_network(tmp_path: Path) -> None:
    net = pn.case9()
    with quiet():
        pp.runpp(net, numba=False)  # results and everything else in the file are not read
    path = tmp_path / "case9.json"
    with quiet():
        pp.to_json(net, str(path))
    by_json = import_network(str(path), tmp_path / "a")
    by_name = import_network("case9", tmp_path / "b")
    for f in by_name.files:  # the same rows and model (its description names the source)
        ours = [ln for ln in non_comment(f) if not ln.startswith("model ")]
        theirs = [ln for ln in non_comment(tmp_path / "a" / f.name)
                  if not ln.startswith("model ")]
        assert ours == theirs, f.name
    assert by_json.model.name == "case9.qgl"


def tampered(tmp_path: Path, obj: dict[str, Any], table: str = "bus") -> Path:
    net = pn.case9()
    with quiet():
        doc = json.loads(pp.to_json(net))
    inner = doc["_object"]
    inner[table] = obj
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("obj", [
    {"_module": "os", "_class": "system", "_object": "echo pwned"},
    {"_module": "qgl_no_such_module", "_class": "Anything", "_object": "{}"},
    {"_module": "pandas.core.frame", "_class": "DataFrame",
     "_object": json.dumps({"columns": ["f"], "index": [0], "data": [[
         {"_module": "builtins", "_class": "function", "_object": "eval"}]]})},
], ids=["os_system", "unknown_module", "nested_function"])
def test_json_with_other_objects_is_refused_before_pandapower(tmp_path: Path,
                                                              obj: dict[str, Any]) -> None:
    path = tampered(tmp_path, obj)
    with pytest.raises(UsageError, match="qglc import reads only plain pandapower tables"):
        import_network(str(path), tmp_path / "out")


def test_controllers_and_results_in_a_json_are_not_read(tmp_path: Path) -> None:
    """Tables the import does not use are dropped before the safety check and pandapower."""
    path = tampered(tmp_path, {"_module": "pandapower.control.controller.const_control",
                               "_class": "ConstControl", "_object": "{}"}, table="controller")
    res = import_network(str(path), tmp_path / "out")
    assert res.model.is_file()


@pytest.mark.parametrize("text, message", [
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "is not a pandapower network"),
    ('{"_module": "pandapower.auxiliary", "_class": "pandapowerNet", "_object": {"x": 1}}',
     "is not a pandapower network"),
])
def test_bad_json_is_a_usage_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "net.json"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        import_network(str(path), tmp_path / "out")


def test_json_over_the_read_limit_and_output_on_a_file(tmp_path: Path) -> None:
    from qgridlang import limits

    path = tmp_path / "big.json"
    path.write_text("{" + " " * 20_000 + "}")  # 20 kB, over a 10 kB limit
    with limits.using(limits.make(max_read_mb=0.01)):
        with pytest.raises(UsageError, match="larger than the read limit"):
            import_network(str(path), tmp_path / "out")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="not a folder"):
        import_network("case9", tmp_path / "file")


@pytest.mark.parametrize("name, message", [
    ("case33", "has no network 'case33'"),
    ("sorted_from_json", "has no network"),  # needs arguments: not a network name
    ("os.system", "neither a pandapower network name nor a JSON file"),
    ("missing/net.json", "no such file"),
])
def test_unknown_names_are_usage_errors(tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as err:
        import_network(name, tmp_path / "out")
    if name == "case33":
        assert "did you mean" in (err.value.hint or "")
    assert not (tmp_path / "out").exists()


def test_unsupported_elements_are_refused() -> None:
    net = pn.example_multivoltage()  # three-winding transformers, xwards, impedances
    with pytest.raises(UsageError, match="trafo3w") as err:
        extract(net, "example_multivoltage", "example_multivoltage")
    assert "in_service = False" in (err.value.hint or "")


def test_no_slack_bus_is_refused() -> None:
    net = feeder()
    net.ext_grid.in_service = False
    with pytest.raises(UsageError, match="no slack bus"):
        extract(net, "feeder", "feeder")


def non_comment(path: Path) -> list[str]:
    return [ln for ln in path.read_text().splitlines() if not ln.startswith("#")]


@pytest.mark.parametrize("name", ["case33bw", "case24_ieee_rts"])
def test_examples_are_the_import_output(tmp_path: Path, name: str) -> None:
    """examples/networks/NAME is `qglc import pandapower NAME -o examples/networks/NAME`
    (comment lines aside: they name the pandapower version)."""
    res = import_network(name, tmp_path)
    committed = sorted(p.name for p in (EXAMPLES / name).iterdir())
    assert committed == sorted(f.name for f in res.files)
    for f in res.files:
        assert non_comment(f) == non_comment(EXAMPLES / name / f.name), f.name


def qglc(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qgridlang", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_cli_import_process(tmp_path: Path) -> None:
    r = qglc("import", "pandapower", "case9", "-o", "out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "wrote out/case9.qgl (network flow = dc, meshed" in r.stdout
    assert (tmp_path / "out/case9.qgl").is_file() and (tmp_path / "out/gens.csv").is_file()
    assert "warning: 6 line(s) have shunt capacitance" in r.stderr
    net = pn.case9()
    with quiet():
        pp.rundcopp(net, numba=False)
    assert solve(tmp_path / "out/case9.qgl").objective == pytest.approx(net.res_cost, rel=1e-7)
    bad = qglc("import", "pandapower", "case_nine", "-o", "x", "--json", cwd=tmp_path)
    doc = json.loads(bad.stdout)
    assert bad.returncode == 2 and doc["errors"][0]["kind"] == "usage_error"
    assert "has no network 'case_nine'" in doc["errors"][0]["message"]
    text = qglc("import", "pandapower", str(tmp_path / "nope.json"), "-o", "x", cwd=tmp_path)
    assert text.returncode == 2 and "qglc: error:" in text.stderr
    assert "Traceback" not in text.stderr and not (tmp_path / "x").exists()
