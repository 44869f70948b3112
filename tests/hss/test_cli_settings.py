"""``ims-core subscriber`` takes ``--set`` (before or after its action) and the
``IMS_CORE__*`` variables like the nodes do, so it finds the store the running HSS uses;
a config it cannot use exits 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from hss.store.sqlite import SqliteStore
from ims_lab.cli import main


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    p = tmp_path / "hss.toml"
    p.write_text(f'data_dir = "{tmp_path / "file-data"}"\n')
    return p


def count(data_dir: Path) -> int:
    store = SqliteStore(data_dir / "hss.sqlite")
    try:
        return store.count()
    finally:
        store.close()


def test_set_before_and_after_the_action(cfg: Path, tmp_path: Path) -> None:
    other = tmp_path / "set-data"
    assert main(["subscriber", "-c", str(cfg), "--set", f"data_dir={other}",
                 "seed", "--count", "2"]) == 0
    assert main(["subscriber", "seed", "-c", str(cfg), "--set", f"data_dir={other}",
                 "--count", "3"]) == 0
    assert count(other) == 3 and not (tmp_path / "file-data").exists()


def test_both_places_apply_in_order(cfg: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(["subscriber", "-c", str(cfg), "--set", f"data_dir={first}", "seed",
                 "--count", "1", "--set", f"data_dir={second}"]) == 0
    assert count(second) == 1 and not first.exists()  # the later --set wins


def test_the_environment_names_the_store(cfg: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMS_CORE__DATA_DIR", str(tmp_path / "env-data"))
    assert main(["subscriber", "-c", str(cfg), "seed", "--count", "2"]) == 0
    assert count(tmp_path / "env-data") == 2


def test_a_bad_setting_exits_2(cfg: Path, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["subscriber", "-c", str(cfg), "--set", "workers=many", "list"]) == 2
    assert "--set workers: expected int, got str" in capsys.readouterr().err
    monkeypatch.setenv("IMS_CORE__STORE__BACKEND", "oracle")
    assert main(["subscriber", "-c", str(cfg), "list"]) == 2
    assert "store.backend must be 'sqlite' or 'postgres'" in capsys.readouterr().err
