"""kiosk doctor: every check says what is wrong and what to do."""

from __future__ import annotations

from click.testing import CliRunner

from kiosk import doctor
from kiosk.cli import main
from kiosk.config import load_config


def usb_device(root, name, vid, pid):
    d = root / name
    d.mkdir(parents=True)
    (d / "idVendor").write_text(vid + "\n")
    (d / "idProduct").write_text(pid + "\n")


def test_a_plugged_in_rc_s380_is_recognised_and_a_loaded_kernel_driver_is_named(tmp_path):
    usb_device(tmp_path / "usb", "1-1", "054c", "06c3")
    modules = tmp_path / "modules"
    modules.write_text("port100 28672 0 - Live 0x0\nnfc 131072 1 port100, Live 0x0\n")
    found = doctor.check_reader({"NFC_DEVICE": "usb:054c:06c3"}, sys_usb=tmp_path / "usb", modules=modules)
    assert [f.verdict for f in found] == ["ok", "FAIL"]
    assert "Sony RC-S380/P" in found[0].message and "port100, nfc" in found[1].message
    assert "blacklist" in found[1].message


def test_no_reader_plugged_in_is_a_failure_that_points_to_the_readme(tmp_path):
    (tmp_path / "usb").mkdir()
    found = doctor.check_reader({"NFC_DEVICE": "usb"}, sys_usb=tmp_path / "usb", modules=tmp_path / "none")
    assert found[0].verdict == "FAIL" and "README" in found[0].message


def test_a_misspelt_reader_setting_fails_with_the_valid_forms():
    (f,) = doctor.check_reader({"NFC_DEVICE": "usbb"})
    assert f.verdict == "FAIL" and "valid forms" in f.message


def test_a_serial_reader_port_is_checked_for_presence(tmp_path):
    import os

    master, slave = os.openpty()
    try:
        (f,) = doctor.check_reader({"NFC_DEVICE": f"serial:{os.ttyname(slave)}@9600"})
        assert f.verdict == "ok" and os.ttyname(slave) in f.message
    finally:
        os.close(master)
        os.close(slave)
    (f,) = doctor.check_reader({"NFC_DEVICE": f"serial:{tmp_path}/ttyGONE"})
    assert f.verdict == "FAIL" and "does not exist: is the serial badge reader connected?" in f.message


def test_an_unsynchronised_clock_fails_and_says_how_to_fix_it():
    assert doctor.check_clock(lambda: "no")[0].verdict == "FAIL"
    assert "set-ntp" in doctor.check_clock(lambda: "no")[0].message
    assert doctor.check_clock(lambda: "yes")[0].verdict == "ok"
    assert doctor.check_clock(lambda: None)[0].verdict == "warn"


def test_a_nearly_full_disk_fails(tmp_path):
    assert doctor.check_disk(tmp_path, fail_bytes=1 << 62)[0].verdict == "FAIL"
    assert doctor.check_disk(tmp_path, warn_bytes=1 << 62, fail_bytes=0)[0].verdict == "warn"


def test_a_secret_readable_by_others_fails(tmp_path):
    (tmp_path / "secret_key").write_text("x")
    (tmp_path / "secret_key").chmod(0o644)
    (f,) = doctor.check_permissions(tmp_path, tmp_path / "checkpoints")
    assert f.verdict == "FAIL" and "chmod 600" in f.message


def test_the_command_fails_on_an_old_schema_and_names_the_fix(tmp_path):
    result = CliRunner().invoke(main, ["--instance", str(tmp_path / "inst"), "doctor"])
    assert result.exit_code == 1
    assert "kiosk db upgrade" in result.output


def test_the_database_check_passes_on_a_migrated_instance(instance):
    (f,) = doctor.check_database(load_config(instance, environ={}))
    assert f.verdict == "ok"
