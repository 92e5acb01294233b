"""Credentials never leave: one redaction for every URL form (user-info, ?password=, libpq keywords, PGPASSWORD,
.pgpass) on every printed line, error, log, stored row and export; a planted password is grepped for in everything
the workbench writes."""

import logging
from pathlib import Path

import onnx
import pytest

from workbench.bench import ResultsStore
from workbench.errors import ResultsStoreError
from workbench.redact import RedactingFilter, redact, remember_secret

from models import conv_bn_relu
from postgres import PASSWORD, USER, postgres  # noqa: F401 - the fixture


@pytest.mark.parametrize("text, secret", [
    ("postgresql://wb:Top%40Secret9@h:5/db", "Top%40Secret9"),
    ("postgresql://wb@h:5/db?sslmode=disable&password=Top-Secret9", "Top-Secret9"),
    ("postgresql://h/db?sslpassword=Top-Secret9&x=1", "Top-Secret9"),
    ("host=h user=wb password='Top Secret9' dbname=d", "Top Secret9"),
    ("connect failed: password=Top-Secret9, try again", "Top-Secret9"),
])
def test_every_url_form_is_masked(text, secret):
    masked = redact(text)
    assert secret not in masked and "***" in masked
    assert redact("models/password_reset.onnx") == "models/password_reset.onnx"  # ordinary text stays


def test_environment_and_pgpass_passwords_are_masked(tmp_path, monkeypatch):
    passfile = tmp_path / "pgpass"
    passfile.write_text("# host:port:db:user:password\nh:5432:*:wb:From\\:Pgpass7\n")
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    monkeypatch.setenv("PGPASSWORD", "From-Env-7")
    masked = redact("auth failed for From-Env-7 and From:Pgpass7")
    assert "From-Env-7" not in masked and "From:Pgpass7" not in masked


def test_logs_are_masked():
    remember_secret("Logged-Secret-7")
    record = logging.LogRecord("workbench.widgets", logging.ERROR, __file__, 1, "failed: %s", ("Logged-Secret-7",),
                               None)
    RedactingFilter().filter(record)
    assert "Logged-Secret-7" not in record.getMessage()


@pytest.mark.parametrize("url", ["postgresql://wb:Pw-Bad-Port7@127.0.0.1:notaport/db",
                                 "postgresql://wb:Pw-Bad-Port7@127.0.0.1:99999999999/db"])
def test_a_bad_url_is_a_clean_error_without_its_password(url, run_cli, tmp_path):
    with pytest.raises(ResultsStoreError, match="not a database URL") as bad:
        ResultsStore(url)
    assert "Pw-Bad-Port7" not in str(bad.value)
    code, out, err = run_cli("runs", "--results", url)
    assert code == 1 and "internal error" not in err and "Pw-Bad-Port7" not in out + err


def _every_file_holds_no(folder: Path, secrets: list[str]) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {s}" for s in secrets if s.encode() in data]
    return found


def test_a_planted_password_appears_nowhere_the_workbench_writes(postgres, tmp_path, run_cli, monkeypatch, caplog):
    """The password in the query string (a form libpq accepts): every line printed, every error, the spool, the
    CSV and MLflow exports, and the store's own rows are grepped for it."""
    monkeypatch.chdir(tmp_path)  # the spool and every default output land here
    name = "planted"
    postgres.fresh_database(name)
    url = f"postgresql://{USER}@127.0.0.1:{postgres.port}/{name}?password={PASSWORD}"
    onnx.save(conv_bn_relu(), tmp_path / "tiny.onnx")
    printed = []
    code, out, err = run_cli("bench", tmp_path / "tiny.onnx", "--duration", "0.02", "--warmup", "0.01",
                             "--iterations", "3", "--results", url)
    assert code == 0, err
    assert "results recorded in postgresql://" in out and "password=***" in out
    printed += [out, err]
    for argv in (["runs", "--json"], ["runs", "--csv", tmp_path / "runs.csv"],
                 ["runs", "--to-mlflow", f"sqlite:///{tmp_path / 'mlflow.db'}"]):
        code, out, err = run_cli(*argv, "--results", url)
        assert code == 0, err
        printed += [out, err]
    wrong = url.replace(PASSWORD, "Wrong-Planted-9")
    code, out, err = run_cli("runs", "--results", wrong)
    assert code == 1 and "Wrong-Planted-9" not in out + err
    printed += [out, err, caplog.text]
    assert all(PASSWORD not in text for text in printed)
    assert (tmp_path / "runs.csv").is_file() and (tmp_path / "mlflow.db").is_file()
    assert _every_file_holds_no(tmp_path, [PASSWORD]) == []
    rows = ResultsStore(url).runs(samples=True)
    assert len(rows) == 1 and PASSWORD not in rows.to_json()
