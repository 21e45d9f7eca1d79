import argparse
import json

import pytest

from service.cli import evaluate as evaluate_cli


def _main(argv: list[str]) -> int:
    # Only the evaluate subcommand, so this test does not depend on the other subcommands' modules.
    parser = argparse.ArgumentParser(prog="lcad")
    evaluate_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.mark.parametrize(("text", "value"), [("3", 3), ("-2", -2), ("0.5", 0.5), ("1e-3", 1e-3), ("true", True),
                                             ("False", False), ("none", None), ("sqrt", "sqrt"), ("", "")])
def test_parse_value(text, value):
    assert evaluate_cli.parse_value(text) == value
    assert type(evaluate_cli.parse_value(text)) is type(value)


def test_parse_settings_rejects_missing_equals():
    assert evaluate_cli.parse_settings(["a=1", "b=x", "a=2"]) == {"a": 2, "b": "x"}
    with pytest.raises(argparse.ArgumentTypeError, match="KEY=VALUE"):
        evaluate_cli.parse_settings(["n_estimators"])


def test_evaluate_json_on_small_limit(capsys):
    code = _main(["evaluate", "--data", "../shared/data/crts", "--scorer", "iforest", "--outlier-class", "LPV",
                  "--seeds", "2", "--limit", "600", "--json", "--set", "n_estimators=50", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "600/600 objects kept" in err
    result = json.loads(out)
    assert result["scorer"] == "iforest" and result["scorer_config"] == {"n_estimators": 50}
    assert result["n_outliers"] == 8 and result["seeds"] == [0, 1]
    (lpv,) = result["classes"]
    assert lpv["outlier_class"] == "LPV" and len(lpv["runs"]) == 2
    assert 0.0 <= lpv["auroc_mean"] <= 1.0 and 0.0 <= lpv["auprc_mean"] <= 1.0


def test_evaluate_caps_training_curves_and_says_so(capsys):
    code = _main(["evaluate", "--data", "../shared/data/crts", "--scorer", "iforest", "--outlier-class", "LPV",
                  "--seeds", "1", "--limit", "600", "--max-train-per-class", "5", "--set", "n_estimators=20",
                  "--no-progress"])
    out, _ = capsys.readouterr()
    assert code == 0 and "capped at 5 per inlier class" in out
    train = int(out.split("| LPV |")[1].split("|")[2])
    n_inlier_classes = 8  # CRTS has 9 classes, LPV plays the outlier
    assert train <= 5 * n_inlier_classes


def test_evaluate_bad_config_is_an_error_not_a_traceback(capsys):
    code = _main(["evaluate", "--data", "../shared/data/crts", "--scorer", "iforest", "--limit", "50",
                  "--set", "no_such_option=1", "--no-progress"])
    assert code == 2
    assert "no_such_option" in capsys.readouterr().err


def _run_class(capsys, outlier_class, n_estimators=50):
    code = _main(["evaluate", "--data", "../shared/data/crts", "--scorer", "iforest", "--outlier-class", outlier_class,
                  "--seeds", "1", "--limit", "600", "--json", "--set", f"n_estimators={n_estimators}",
                  "--no-progress"])
    assert code == 0
    return capsys.readouterr().out


def test_merge_combines_classes_run_apart_and_refuses_mismatches(capsys, tmp_path):
    parts = {c: tmp_path / f"{c}.json" for c in ("RRc", "LPV")}
    for c, path in parts.items():
        path.write_text(_run_class(capsys, c))
    assert _main(["evaluate", "--merge", str(parts["RRc"]), str(parts["LPV"]), "--json"]) == 0
    merged = json.loads(capsys.readouterr().out)
    assert [c["outlier_class"] for c in merged["classes"]] == ["LPV", "RRc"]
    alone = {c: json.loads(p.read_text())["classes"][0] for c, p in parts.items()}
    assert merged["classes"][0] == alone["LPV"] and merged["classes"][1] == alone["RRc"]

    other = tmp_path / "other.json"
    other.write_text(_run_class(capsys, "EA", n_estimators=20))
    assert _main(["evaluate", "--merge", str(parts["RRc"]), str(other)]) == 2
    assert "differ in scorer_config" in capsys.readouterr().err
    assert _main(["evaluate", "--merge", str(parts["RRc"]), str(parts["RRc"])]) == 2
    assert "['RRc'] appear in more than one part" in capsys.readouterr().err


def _run_seeds(capsys, seeds: str) -> dict:
    assert _main(["evaluate", "--data", "../shared/data/crts", "--scorer", "iforest", "--outlier-class", "LPV",
                  "--outlier-class", "RRc", "--seeds", seeds, "--limit", "600", "--json", "--set",
                  "n_estimators=20", "--no-progress"]) == 0
    return json.loads(capsys.readouterr().out)


def test_merge_adds_seeds_run_apart_as_if_run_together(capsys, tmp_path):
    together = _run_seeds(capsys, "3")
    parts = [tmp_path / "seed0.json", tmp_path / "seeds12.json"]
    parts[0].write_text(json.dumps(_run_seeds(capsys, "1")))
    later = _run_seeds(capsys, "1,2")
    assert later["seeds"] == [1, 2]
    parts[1].write_text(json.dumps(later))
    assert _main(["evaluate", "--merge", str(parts[1]), str(parts[0]), "--json"]) == 0
    merged = json.loads(capsys.readouterr().out)
    assert merged["seeds"] == [0, 1, 2]
    for got, want in zip(merged["classes"], together["classes"], strict=True):
        assert [r["seed"] for r in got["runs"]] == [0, 1, 2]
        assert got["auroc_mean"] == pytest.approx(want["auroc_mean"]) and got["auroc_std"] == pytest.approx(
            want["auroc_std"])
    only_lpv = tmp_path / "lpv.json"
    only_lpv.write_text(json.dumps({**later, "classes": later["classes"][:1]}))
    assert _main(["evaluate", "--merge", str(parts[0]), str(only_lpv)]) == 2
    assert "different seeds" in capsys.readouterr().err


def test_evaluate_without_data_or_merge_is_an_error(capsys):
    assert _main(["evaluate", "--scorer", "iforest"]) == 2
    assert "--data and --scorer are required" in capsys.readouterr().err


def test_seeds_are_a_count_or_a_list_of_seeds():
    from service.cli.evaluate import parse_seeds

    assert parse_seeds("3") == 3 and parse_seeds("1,2") == [1, 2] and parse_seeds("1,") == [1]
    for none in ("0", "-2", ","):
        with pytest.raises(argparse.ArgumentTypeError, match="runs no seed"):
            parse_seeds(none)


def test_evaluate_takes_a_preset_and_records_it(capsys):
    code = _main(["evaluate", "--data", "../shared/data/crts", "--scorer", "iforest", "--outlier-class", "LPV",
                  "--seeds", "1", "--limit", "300", "--json", "--preset", "default", "--set", "n_estimators=20",
                  "--no-progress"])
    out, _ = capsys.readouterr()
    assert code == 0 and json.loads(out)["scorer_config"] == {"n_estimators": 20, "preset": "default"}
    code = _main(["evaluate", "--data", "../shared/data/crts", "--scorer", "iforest", "--limit", "50",
                  "--preset", "no-such-preset", "--no-progress"])
    assert code == 2 and "no-such-preset" in capsys.readouterr().err
