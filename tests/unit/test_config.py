"""Configuration layers: defaults, then the instance file, then KIOSK_* variables, then overrides."""

import re
from datetime import timedelta
from pathlib import Path

import pytest

from kiosk.config import DEFAULTS, load_config


def test_defaults_put_the_database_in_the_instance_folder_and_speak_chinese(tmp_path):
    cfg = load_config(tmp_path, environ={})
    assert cfg["DATABASE_URL"] == f"sqlite:///{tmp_path.resolve()}/kiosk.db"
    assert cfg["LANGUAGE"] == "zh-CN" and cfg["TIMEZONE"] == "Asia/Shanghai"


def test_the_instance_file_overrides_defaults_and_the_environment_overrides_the_file(tmp_path):
    (tmp_path / "kiosk.toml").write_text('language = "en"\nnfc_debounce_seconds = 1.5\n')
    cfg = load_config(tmp_path, environ={"KIOSK_NFC_DEBOUNCE_SECONDS": "3"})
    assert cfg["LANGUAGE"] == "en" and cfg["NFC_DEBOUNCE_SECONDS"] == 3.0


def test_an_unknown_key_in_the_instance_file_is_refused_naming_it(tmp_path):
    (tmp_path / "kiosk.toml").write_text('langauge = "en"\n')
    with pytest.raises(ValueError, match="unknown setting 'langauge'"):
        load_config(tmp_path, environ={})


def test_a_bad_number_in_the_environment_names_the_variable(tmp_path):
    with pytest.raises(ValueError, match="KIOSK_ROLLCALL_OPENS_MINUTES"):
        load_config(tmp_path, environ={"KIOSK_ROLLCALL_OPENS_MINUTES": "half an hour"})


def test_every_setting_is_documented_in_the_readme():
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    missing = [k for k in DEFAULTS if not re.search(rf"`KIOSK_{k}`", readme)]
    assert not missing, f"README lacks: {missing}"


def test_the_roll_call_policy_follows_the_settings_it_is_made_from(tmp_path):
    from kiosk.services.context import ServiceContext

    ctx = ServiceContext(config=load_config(tmp_path, environ={}), engine=None, sessions=None)  # type: ignore[arg-type]
    assert ctx.rollcall_policy.opens_before == timedelta(minutes=30)
    assert ctx.rollcall_policy is ctx.rollcall_policy  # remembered: every badge tap asks
    ctx.config["ROLLCALL_OPENS_MINUTES"] = 45
    ctx.config["LEADER_EARLY_MINUTES"] = "15"
    assert ctx.rollcall_policy.opens_before == timedelta(minutes=45)
    assert ctx.rollcall_policy.leader_early == timedelta(minutes=15)
