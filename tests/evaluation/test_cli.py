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


def test_evaluate_bad_config_is_an_error_not_a_traceback(capsys):
    code = _main(["evaluate", "--data", "../shared/data/crts", "--scorer", "iforest", "--limit", "50",
                  "--set", "no_such_option=1", "--no-progress"])
    assert code == 2
    assert "no_such_option" in capsys.readouterr().err
