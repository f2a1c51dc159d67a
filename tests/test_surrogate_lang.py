"""The `surrogate` declaration: parsing, located errors, `qglc train` and the .qgls artifact
(round trip, reproducibility, refusal of a changed declaration), calls of parameters evaluated
into a MILP, calls of variables refused by MILP targets, and the CLI as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("jax")
pytest.importorskip("flax")

from qgridlang import ast  # noqa: E402
from qgridlang.checker import check_file, check_text  # noqa: E402
from qgridlang.errors import QglError, QglErrors  # noqa: E402
from qgridlang.parser import parse  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

MODEL = """\
time T = 1..4 step 1 h
param price[T]: $/MWh = {1: 40, 2: 80, 3: 120, 4: 80}
surrogate ec: price[T]: $/MWh -> p_ex[T]: MW {
  ansatz = tiny(hidden = 3)
  data = "d.npz"; epochs = 4; learning_rate = 0.05; batch = 16; seed = 3
  trained = "ec.qgls"
}
var x[T]: MW >= 0
constraint c[t in T]: x[t] >= ec(price)[t]
minimize cost: sum(t in T) x[t] * 50 $/MWh * dt
"""


def _data(folder: Path, n: int = 120, response_unit: str = "MW") -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(40, 120, (n, 4))
    y = 0.6 - 0.004 * x + 0.002 * np.roll(x, 1, axis=1)  # MW; a response with memory
    if response_unit == "kW":
        y = y * 1000.0
    meta = json.dumps({"units": {"price": "$/MWh", "response": response_unit}})
    np.savez(folder / "d.npz", price=x, response=y, status=np.array(["optimal"] * n),
             qgridlang=np.array(meta))


def _errors(text: str, tmp_path: Path) -> list[QglError]:
    path = tmp_path / "m.qgl"
    path.write_text(text)
    with pytest.raises(QglErrors) as info:
        check_file(path)
    return info.value.errors


# ---- the language -----------------------------------------------------------------------
def test_declaration_and_call_parse_with_spans() -> None:
    prog = parse(MODEL, "m.qgl")
    decl = next(s for s in prog.statements if isinstance(s, ast.SurrogateDecl))
    assert (decl.name, decl.input.name, decl.input.index, decl.output.name) == \
        ("ec", "price", "T", "p_ex")
    assert decl.input.unit is not None and decl.input.unit.text == "$/MWh"
    assert [s.key for s in decl.settings] == ["ansatz", "data", "epochs", "learning_rate",
                                              "batch", "seed", "trained"]
    assert (decl.span.line, decl.span.column, decl.span.end_line) == (3, 1, 7)
    con = next(s for s in prog.statements if isinstance(s, ast.ConstraintDecl))
    assert isinstance(con.body, ast.Compare)
    call = con.body.operands[1]
    assert isinstance(call, ast.CallIndex) and call.call.name == "ec"
    assert (call.span.line, call.span.column) == (9, 31)


def test_spec_and_hash(tmp_path: Path) -> None:
    (tmp_path / "m.qgl").write_text(MODEL)
    checked = check_file(tmp_path / "m.qgl", defer_surrogates=True)
    spec = checked.flat.surrogates["ec"]
    assert (spec.ansatz, spec.options, spec.length, spec.index) == ("tiny", {"hidden": 3}, 4, "T")
    assert (spec.epochs, spec.learning_rate, spec.batch, spec.seed) == (4, 0.05, 16, 3)
    assert (spec.input_unit, spec.output_unit) == ("$/MWh", "MW")
    assert spec.data is not None and spec.data.kind == "file" and spec.data.path == "d.npz"
    # where the artifact lives is not part of what training produces; the settings are
    moved = check_text(MODEL.replace('"ec.qgls"', '"other.qgls"'), str(tmp_path / "m.qgl"),
                       defer_surrogates=True).flat.surrogates["ec"]
    assert moved.digest() == spec.digest()
    for old, new in (("epochs = 4", "epochs = 5"), ("hidden = 3", "hidden = 4"),
                     ('"d.npz"', '"e.npz"'), ("-> p_ex[T]: MW", "-> p_ex[T]: kW")):
        other = check_text(MODEL.replace(old, new), str(tmp_path / "m.qgl"),
                           defer_surrogates=True).flat.surrogates["ec"]
        assert other.digest() != spec.digest(), new


@pytest.mark.parametrize(("old", "new", "where", "message"), [
    ("epochs = 4", "epocs = 4", (5, 19), "no setting 'epocs'"),
    ("tiny(hidden = 3)", "tinyy(hidden = 3)", (4, 12), "unknown ansatz 'tinyy'"),
    ("tiny(hidden = 3)", "tiny(hiden = 3)", (4, 25), "has no option 'hiden'"),
    ("epochs = 4", "epochs = 2.5", (5, 28), "whole number"),
    ("learning_rate = 0.05", "learning_rate = -1", (5, 47), "must be positive"),
    ('data = "d.npz"', 'data = "d.csv"', (5, 10), "file.npz"),
    ("batch = 16", "batch = 16; batch = 8", (5, 65), "given twice"),
    ("ec(price)[t]", "ec(price)", (9, 31), "index it"),
    ("ec(price)[t]", "ec(x)[t]", (9, 34), "over [T]"),
    ("ec(price)[t]", "ecc(price)[t]", (9, 31), "is not a surrogate"),
    ("-> p_ex[T]", "-> p_ex[U]", (3, 34), "'U' is not a set"),
])
def test_located_errors(tmp_path: Path, old: str, new: str, where: tuple[int, int],
                        message: str) -> None:
    text = MODEL.replace(old, new, 1)
    if "ec(x)" in new:  # an argument over another set
        text = text.replace("var x[T]", "set U = 1..3\nvar y[U] >= 0\nvar x[T]").replace(
            "ec(x)", "ec(y)")
        where = (where[0] + 2, where[1])
    errs = _errors(text, tmp_path)
    assert any(message in e.message for e in errs), [e.message for e in errs]
    err = next(e for e in errs if message in e.message)
    assert err.span is not None and (err.span.line, err.span.column) == where, err.span


def test_untrained_surrogate_is_a_located_error(tmp_path: Path) -> None:
    errs = _errors(MODEL.replace('  trained = "ec.qgls"\n', ""), tmp_path)
    assert "no trained artifact" in errs[0].message
    assert (errs[0].span.line, errs[0].span.column) == (8, 31)  # one line less
    assert "qglc train" in (errs[0].hint or "")


# ---- training and the artifact ------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from qgridlang.surrogates.fit import train_declared

    folder = tmp_path_factory.mktemp("sur")
    _data(folder)
    (folder / "m.qgl").write_text(MODEL)
    s = train_declared(folder / "m.qgl", "ec", folder / "ec.qgls")
    assert s.epochs_run == 4 and s.samples == 120 and s.parameters > 0
    assert s.history[-1]["train_loss"] < s.history[0]["train_loss"]  # it learns
    return folder


def test_round_trip_evaluates_the_call_into_a_milp(trained: Path) -> None:
    from qgridlang.dispatcher import solve_model
    from qgridlang.surrogates.artifact import load_artifact

    checked = check_file(trained / "m.qgl")
    spec = checked.flat.surrogates["ec"]
    art = load_artifact(trained / "ec.qgls", spec, checked_read=False)
    want = art.predict(np.array([40.0, 80.0, 120.0, 80.0]))
    sol = solve_model(checked, "highs")
    x = np.array([sol.variables["x"][str(t)] for t in (1, 2, 3, 4)])
    assert np.allclose(x, np.maximum(want, 0.0), atol=1e-6)
    # the artifact's declaration record and units
    assert art.meta["digest"] == spec.digest() and art.meta["units"] == {
        "input": "$/MWh", "output": "MW"}


def test_training_is_reproducible(trained: Path, tmp_path: Path) -> None:
    from qgridlang.surrogates.artifact import load_artifact
    from qgridlang.surrogates.fit import train_declared

    _data(tmp_path)
    (tmp_path / "m.qgl").write_text(MODEL)
    train_declared(tmp_path / "m.qgl", None, tmp_path / "ec.qgls")
    a = load_artifact(trained / "ec.qgls", checked_read=False)
    b = load_artifact(tmp_path / "ec.qgls", checked_read=False)
    x = np.array([[50.0, 60.0, 70.0, 110.0]])
    assert np.array_equal(a.predict(x), b.predict(x))


def test_changed_declaration_refuses_the_artifact(trained: Path) -> None:
    changed = trained / "changed.qgl"
    changed.write_text(MODEL.replace("seed = 3", "seed = 4"))
    with pytest.raises(QglErrors) as info:
        check_file(changed)
    err = info.value.errors[0]
    assert "changed since" in err.message and "seed: trained with 3, declared 4" in err.message
    assert (err.span.line, err.span.column) == (3, 1)


def test_not_an_artifact(trained: Path) -> None:
    (trained / "bad.qgls").write_bytes(b"not msgpack at all")
    bad = trained / "bad.qgl"
    bad.write_text(MODEL.replace('"ec.qgls"', '"bad.qgls"'))
    with pytest.raises(QglErrors, match="not a trained qgridlang surrogate"):
        check_file(bad)


def test_data_units_are_converted(tmp_path: Path) -> None:
    from qgridlang.surrogates.fit import load_data

    _data(tmp_path, response_unit="kW")
    (tmp_path / "m.qgl").write_text(MODEL)
    spec = check_file(tmp_path / "m.qgl", defer_surrogates=True).flat.surrogates["ec"]
    x, y, _ = load_data(spec, tmp_path, tmp_path / "ec.qgls")
    _data(tmp_path, response_unit="MW")
    _, y_mw, _ = load_data(spec, tmp_path, tmp_path / "ec.qgls")
    assert np.allclose(y, y_mw)
    # a data set of another dimension is refused at the data setting
    np.savez(tmp_path / "d.npz", price=x, response=y, qgridlang=np.array(json.dumps(
        {"units": {"price": "$/MWh", "response": "h"}})))
    with pytest.raises(QglError, match="incompatible") as info:
        load_data(spec, tmp_path, tmp_path / "ec.qgls")
    assert info.value.span is not None and info.value.span.line == 5


def test_data_outside_the_model_folder_is_refused(tmp_path: Path) -> None:
    from qgridlang.surrogates.fit import train_declared

    (tmp_path / "sub").mkdir()
    _data(tmp_path)
    (tmp_path / "sub" / "m.qgl").write_text(MODEL.replace('"d.npz"', '"../d.npz"'))
    with pytest.raises(QglError, match="outside the folders"):
        train_declared(tmp_path / "sub" / "m.qgl", "ec", tmp_path / "ec.qgls")


# ---- calls of variables: a differentiable program -------------------------------------------
VARIABLE = MODEL.replace("param price[T]: $/MWh = {1: 40, 2: 80, 3: 120, 4: 80}",
                         "var price[T]: $/MWh in 40 .. 120") + \
    "constraint mean_price: sum(t in T) price[t] == 320 $/MWh\n"


def test_call_of_a_variable_is_refused_by_milp_at_the_call(tmp_path: Path) -> None:
    from qgridlang.dispatcher import solve_model

    path = tmp_path / "v.qgl"
    path.write_text(VARIABLE)
    checked = check_file(path)  # no artifact needed: nothing is evaluated
    links = checked.flat.surrogate_links
    assert len(links) == 1 and links[0].input_name == "price" and len(links[0].input_cols) == 4
    block = next(b for b in checked.flat.blocks if b.name == "ec(price)")
    assert block.unit == "MW" and len(block.keys) == 4
    with pytest.raises(QglError, match="differentiable program") as info:
        solve_model(checked, "highs")
    assert (info.value.span.line, info.value.span.column) == (9, 31)


# ---- the CLI as users run it ----------------------------------------------------------------
def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qgridlang", *args], capture_output=True,
                          text=True, timeout=600, cwd=cwd)


def test_cli_train_check_and_refusals(tmp_path: Path) -> None:
    _data(tmp_path)
    (tmp_path / "m.qgl").write_text(MODEL)
    run = _cli("train", "m.qgl", "--surrogate", "ec", "-o", "ec.qgls", "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["status"] == "ok" and doc["epochs_run"] == 4 and len(doc["history"]) == 4
    assert "epoch 4/4: train loss" in run.stderr  # progress on stderr, stdout is the document
    assert (tmp_path / "ec.qgls.ckpt").exists()
    run = _cli("solve", "m.qgl", "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["status"] == "optimal"
    # a second run resumes from the checkpoint: no epoch is trained again
    run = _cli("train", "m.qgl", "-o", "ec.qgls", cwd=tmp_path)
    assert run.returncode == 0 and "epoch" not in run.stderr, run.stderr
    run = _cli("train", "m.qgl", "--surrogate", "ecc", "-o", "ec.qgls", cwd=tmp_path)
    assert run.returncode == 2 and "no surrogate 'ecc'" in run.stderr
    assert "Traceback" not in run.stderr
    run = _cli("train", "m.qgl", "-o", "ec.npz", cwd=tmp_path)
    assert run.returncode == 2 and "FILE.qgls" in run.stderr
    (tmp_path / "v.qgl").write_text(VARIABLE)
    run = _cli("check", "v.qgl", cwd=tmp_path)
    assert run.returncode == 0 and "v.qgl:9:31: note: ec(price)" in run.stdout, run.stdout
    run = _cli("solve", "v.qgl", cwd=tmp_path)
    assert run.returncode == 1 and "v.qgl:9:31: error:" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr


# ---- data = sample(…): the data-set generator runs first ------------------------------------
# the small residential community of the data-set tests
from test_datasets import SMALL as COMMUNITY  # noqa: E402

SAMPLED = """\
time T = 1..8 step 1 h
surrogate res: price[T]: $/MWh -> p[T]: kW {
  ansatz = tiny(hidden = 2)
  data = sample(model = "community/res8.qgl", n = 12, seed = 1)
  epochs = 2; batch = 4
}
"""


def test_training_data_sampled_from_a_community_model(tmp_path: Path) -> None:
    from qgridlang.datasets.store import read_dataset
    from qgridlang.surrogates.fit import train_declared

    (tmp_path / "community").mkdir()
    (tmp_path / "community" / "res8.qgl").write_text(COMMUNITY)
    (tmp_path / "m.qgl").write_text(SAMPLED)
    s = train_declared(tmp_path / "m.qgl", "res", tmp_path / "res.qgls")
    assert s.samples == 12 and s.units == {"input": "$/MWh", "output": "kW"}
    rows, meta = read_dataset(tmp_path / "res.qgls.data.npz")  # kept beside the artifact
    assert rows["price"].shape == (12, 8) and meta["units"]["response"] == "MW"
    # the data set's MW became the declaration's kW: the normalisation is the training split's
    from qgridlang.surrogates.artifact import load_artifact
    from qgridlang.surrogates.training import split_indices

    art = load_artifact(tmp_path / "res.qgls", checked_read=False)
    train_rows, _, _ = split_indices(12, 1)
    assert art.normalisation.y_max == pytest.approx(
        1000.0 * float(rows["response"][train_rows].max()), rel=1e-6)
    assert len(s.history) == 2 and np.isfinite(s.test_mse)


def test_an_artifact_cannot_make_the_model_build_another_ansatz(trained: Path) -> None:
    """The declaration builds the ansatz; a file whose hash was copied but whose parameters
    belong to another ansatz is refused (not evaluated with the file's own configuration)."""
    import jax

    from qgridlang.surrogates.artifact import KIND
    from qgridlang.surrogates.registry import build
    from qgridlang.surrogates.training import Normalisation, save_checkpoint

    spec = check_file(trained / "m.qgl").flat.surrogates["ec"]
    other = build("tiny", 4, hidden=7)
    save_checkpoint(trained / "forged.qgls", other, other.init(jax.random.PRNGKey(0)),
                    Normalisation(0.0, 1.0, 0.0, 1.0),
                    {"kind": KIND, "surrogate": "ec", "digest": spec.digest(),
                     "declaration": spec.hashed()})
    forged = trained / "forged.qgl"
    forged.write_text(MODEL.replace('"ec.qgls"', '"forged.qgls"'))
    with pytest.raises(QglErrors, match="parameters do not fit the declared ansatz"):
        check_file(forged)


def test_an_expression_of_parameters_is_evaluated_like_a_parameter(trained: Path) -> None:
    from qgridlang.dispatcher import solve_model

    text = MODEL.replace("param price[T]: $/MWh = {1: 40, 2: 80, 3: 120, 4: 80}",
                         "param base[T]: $/MWh = {1: 40, 2: 80, 3: 120, 4: 80}\n"
                         "expr price[t in T]: $/MWh = base[t] * 1")
    (trained / "expr.qgl").write_text(text)
    a = solve_model(check_file(trained / "expr.qgl"), "highs")
    b = solve_model(check_file(trained / "m.qgl"), "highs")
    assert a.objective == pytest.approx(b.objective, rel=1e-12)
    assert not check_file(trained / "expr.qgl").flat.surrogate_links


# ---- mutated declarations: located errors only (the hostile fuzz of tests/test_fuzz.py leaves
# surrogate models out: JAX's runtime does not start under its address-space limit) -------------
_TOKENS = ["surrogate", "->", "[", "]", "{", "}", "(", ")", "=", ";", ":", ",", "ansatz",
           "tiny", "qtcn_lstm", "data", "sample", "epochs", "-1", "1e999", '"x.npz"', "T",
           "price", "ec", "MW", "$/MWh", "trained", "n", "0", "2.5", "hidden"]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(_TOKENS), st.booleans()),
                min_size=1, max_size=4))
def test_mutated_declarations_give_located_errors_only(edits: list[tuple[int, str, bool]]
                                                       ) -> None:
    text = MODEL.replace('  trained = "ec.qgls"\n', "").replace(
        "ec(price)[t]", "0 MW")  # the declaration alone: nothing is evaluated
    for at, token, insert in edits:
        i = at % (len(text) + 1)
        text = text[:i] + f" {token} " + text[i:] if insert else text[:i] + text[i + 1:]
    try:
        check_text(text, "<fuzz>", defer_surrogates=True)
    except QglError as exc:
        for err in getattr(exc, "errors", [exc]):
            assert err.span is None or err.span.line >= 1
