"""The dashboard's routes through HTTP (Starlette's test client), on SQLite and PostgreSQL: pages and parts, the
trial table's sorting, filtering and pages, live versions, escaping of every user-named string, path traversal,
and who may write (read-only by default; a token, JSON, and the dashboard's own origin for every write)."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

import itero
from itero.dashboard import create_app, parse_tokens
from itero.dashboard._views import SECTION_IDS

XSS = "<script>alert(1)</script>"
XSS_PARAM = '"><img src=x onerror=alert(2)>'  # a parameter name that would break out of an attribute
NAME = f"x{XSS}/y"  # a "/" too: names travel URL-encoded and come back decoded
TOKEN = "label-one-secret"


def objective(trial: itero.Trial) -> None:
    lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)
    kind = trial.suggest_categorical("kind", ["a", XSS])
    trial.suggest_int(XSS_PARAM, 1, 3)
    state = trial.restore()
    start = 0.0 if state is None else state["w"]
    for step in trial.steps(max_steps=9):
        if lr > 0.8 and step == 2:
            raise RuntimeError(f"diverged {XSS}")
        w = start + lr * step
        trial.report(step, {"loss": (math.log10(lr) + 1.5) ** 2 + 1 / step + (kind == "a"), "w": w}, state={"w": w})


@pytest.fixture
def study(storage_url: str, study_name: str) -> itero.Study:
    s = itero.create_study(
        NAME + study_name,
        storage=storage_url,
        objectives={"loss": "minimize"},
        sampler={"name": "random", "seed": 3},
        scheduler={"name": "asha", "max_steps": 9, "eta": 3},
    )
    s.optimize(objective, n_trials=24, show_progress=False)
    s.set_trial_note(0, f"note {XSS}")
    return s


@pytest.fixture
def client(study: itero.Study) -> Iterator[TestClient]:
    with TestClient(create_app(study.store)) as c:
        yield c


@pytest.fixture
def writer(study: itero.Study) -> Iterator[TestClient]:
    with TestClient(create_app(study.store, tokens=parse_tokens(f"ana={TOKEN}"))) as c:
        yield c


def api(study: itero.Study, rest: str = "") -> str:
    return f"/api/studies/{quote(study.name, safe='')}{rest}"


def page(study: itero.Study, rest: str = "") -> str:
    return f"/studies/{quote(study.name, safe='')}{rest}"


def no_raw_xss(text: str) -> None:
    for raw in ("<script>alert", "<img src=x"):
        assert raw not in text, text[max(0, text.find(raw) - 200) :][:400]


# ---------------------------------------------------------------------------------------------- reading
def test_studies_list_page_and_its_table(client: TestClient, study: itero.Study):
    home = client.get("/")
    assert home.status_code == 200 and 'data-src="/api/studies"' in home.text
    part = client.get("/api/studies").json()
    no_raw_xss(part["html"])
    assert "x&lt;script&gt;alert(1)&lt;/script&gt;/y" in part["html"]
    assert f'href="/studies/{quote(study.name, safe="")}"' in part["html"].replace("&amp;", "&")
    assert re.search(r"complete \d+", part["html"])


def test_study_page_and_every_section(client: TestClient, study: itero.Study):
    shell = client.get(page(study))
    assert shell.status_code == 200
    no_raw_xss(shell.text)
    assert shell.headers["content-security-policy"].startswith("default-src 'self'; script-src 'self' 'unsafe-eval';")
    assert "<script>" not in shell.text.replace('<script src="/static/', "")  # no inline script at all
    for sid in SECTION_IDS:
        r = client.get(api(study, f"/sections/{sid}"))
        assert r.status_code == 200, (sid, r.text)
        part = r.json()
        no_raw_xss(part["html"])
        for fig in part["figures"].values():
            assert "data" in fig and "layout" in fig
    figures = client.get(api(study, "/sections/history")).json()["figures"]
    assert set(figures) == {"fig-history-steps", "fig-history-energy"}
    assert client.get(api(study, "/sections/nope")).json()["error"].startswith("no section 'nope'")


def test_trial_table_sorts_filters_and_pages(client: TestClient, study: itero.Study):
    trials = study.trials
    by_loss = client.get(api(study, "/trials"), params={"sort": "loss", "per_page": 5}).json()
    assert by_loss["total"] == len(trials) and by_loss["pages"] == -(-len(trials) // 5)
    best = min((t for t in trials if "loss" in t.metrics), key=lambda t: (t.metrics["loss"], t.number))
    first = re.search(r'href="[^"]*/trials/(\d+)"', by_loss["html"])
    assert first is not None and int(first.group(1)) == best.number
    failed = client.get(api(study, "/trials"), params={"state": "failed"}).json()
    assert failed["total"] == sum(t.state.value == "FAILED" for t in trials)
    no_raw_xss(failed["html"])
    noted = client.get(api(study, "/trials"), params={"q": "note"}).json()
    assert noted["total"] == 1 and "/trials/0" in noted["html"]
    last = client.get(api(study, "/trials"), params={"sort": "number", "order": "desc", "page": 99}).json()
    assert last["page"] == last["pages"]  # a page past the end shows the last one
    for query, message in [
        ({"sort": "bogus"}, "sort='bogus' is not one of rank, number, steps, energy, seconds, loss"),
        ({"state": "done"}, "state='done' is not one of"),
        ({"page": "0"}, "page='0' must be between 1 and"),
        ({"per_page": "x"}, "per_page='x' is not a whole number"),
        ({"order": "up"}, "order='up' is not one of asc, desc"),
    ]:
        r = client.get(api(study, "/trials"), params=query)
        assert r.status_code == 400 and r.json()["error"].startswith(message), r.text


def test_trial_page_shows_params_curves_checkpoints_and_traceback(client: TestClient, study: itero.Study):
    failed = next((t for t in study.trials if t.state.value == "FAILED"), None)
    shell = client.get(page(study, "/trials/0"))
    assert shell.status_code == 200 and 'data-trial="0"' in shell.text
    part = client.get(api(study, "/trials/0")).json()
    no_raw_xss(part["html"])
    assert "Parameters" in part["html"] and "lr" in part["html"] and "note &lt;script&gt;" in part["html"]
    assert "fig-trial-0" in part["figures"]
    assert "Checkpoints" in part["html"] and "Runs" in part["html"]
    if failed is not None:
        html = client.get(api(study, f"/trials/{failed.number}")).json()["html"]
        no_raw_xss(html)
        assert "Traceback (most recent call last)" in html and "diverged &lt;script&gt;" in html
    assert client.get(page(study, "/trials/999")).status_code == 404
    missing = client.get(api(study, "/trials/999"))
    assert missing.status_code == 404 and missing.json()["error"] == f"study {study.name!r} has no trial 999"


def test_unknown_study_and_path_traversal_are_404(client: TestClient):
    r = client.get("/studies/nope")
    assert r.status_code == 404 and "no study named &#x27;nope&#x27;" in r.text
    for path in [
        "/static/..%2F_app.py",
        "/static/../_app.py",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/dashboard.js%00.py",
        "/studies/..%2F..%2Fetc%2Fpasswd",
        "/api/studies/..%2F..%2Fetc%2Fpasswd/trials/1",
    ]:
        r = client.get(path)
        assert r.status_code == 404, path
        assert "root:" not in r.text and "def create_app" not in r.text
    assert client.get("/static/dashboard.js").status_code == 200
    assert client.get("/static/plotly.min.js").headers["content-type"].startswith("text/javascript")


def test_a_foreign_host_header_is_refused(client: TestClient):
    # A page on another site that rebinds its DNS name to 127.0.0.1 sends its own Host header.
    assert client.get("/", headers={"host": "evil.example"}).status_code == 400


def test_version_changes_when_a_trial_is_written(client: TestClient, study: itero.Study):
    before = client.get(api(study, "/version")).json()["version"]
    assert client.get(api(study, "/version")).json()["version"] == before  # nothing written: the same
    study.optimize(objective, n_trials=1, show_progress=False)
    after = client.get(api(study, "/version")).json()["version"]
    assert after > before
    table = client.get(api(study, "/trials"), params={"sort": "number", "order": "desc", "per_page": 1}).json()
    assert f"/trials/{study.trials[-1].number}" in table["html"]


# ---------------------------------------------------------------------------------------------- writing
def test_read_only_dashboard_refuses_every_write(client: TestClient, study: itero.Study):
    r = client.post(api(study, "/enqueue"), json={"params": {"lr": 0.1}}, headers={"authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 403 and "read-only" in r.json()["error"]
    r = client.post(api(study, "/trials/0/stop"), json={})
    assert r.status_code == 403
    assert "enqueue-form" not in client.get(page(study)).text


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({}, 401, "a write needs the dashboard's token"),
        ({"authorization": "Bearer wrong-token"}, 401, "the token is not one of this dashboard's tokens"),
        ({"authorization": f"Basic {TOKEN}"}, 401, "a write needs the dashboard's token"),
        ({"authorization": f"Bearer {TOKEN}", "origin": "http://evil.example"}, 403, "from another origin"),
        ({"authorization": f"Bearer {TOKEN}", "content-type": "text/plain"}, 415, "application/json"),
    ],
)
def test_a_write_needs_token_json_and_own_origin(
    writer: TestClient, study: itero.Study, headers: dict[str, str], status: int, message: str
):
    body = json.dumps({"params": {"lr": 0.1}})
    sent = {"content-type": "application/json", **headers}
    r = writer.post(api(study, "/enqueue"), content=body, headers=sent)
    assert r.status_code == status and message in r.json()["error"], r.text
    assert not study.actions() or all(a.kind != "enqueue" for a in study.actions())


def test_writes_with_the_token_are_done_and_recorded_with_its_label(writer: TestClient, study: itero.Study):
    auth = {"authorization": f"Bearer {TOKEN}", "origin": "http://testserver"}
    assert writer.post("/api/whoami", json={}, headers=auth).json() == {"who": "ana"}
    assert writer.post("/api/whoami", json={}, headers={"authorization": "Bearer nope-nope"}).status_code == 401
    r = writer.post(api(study, "/enqueue"), json={"params": {"lr": 0.01, "kind": "a"}}, headers=auth)
    assert r.status_code == 200, r.text
    number = r.json()["number"]
    assert r.json()["who"] == "ana"
    enqueued = study.trials[number]
    assert enqueued.state.value == "WAITING" and enqueued.enqueued == {"lr": 0.01, "kind": "a"}
    paused = next(t for t in study.trials if t.state.value == "PAUSED")
    assert writer.post(api(study, f"/trials/{paused.number}/stop"), json={}, headers=auth).status_code == 200
    assert study.trials[paused.number].state.value == "PRUNED"
    tag = f"tag{XSS}"
    assert writer.post(api(study, "/trials/1/tag"), json={"tag": tag}, headers=auth).status_code == 200
    assert writer.post(api(study, "/trials/1/note"), json={"text": "looks good"}, headers=auth).status_code == 200
    assert study.trials[1].tags == [tag] and study.trials[1].note == "looks good"
    kinds = [(a.who, a.kind, a.trial_number) for a in study.actions()]
    assert ("ana", "enqueue", number) in kinds and ("ana", "stop", paused.number) in kinds
    assert ("ana", "tag", 1) in kinds and ("ana", "note", 1) in kinds
    shell = writer.get(page(study)).text
    assert 'placeholder="{&quot;&quot;&gt;&lt;img src=x' in shell  # the parameter names, escaped in the attribute
    no_raw_xss(shell)
    shown = writer.get(api(study, "/actions")).json()["html"]
    no_raw_xss(shown)
    assert "ana" in shown and "enqueue" in shown
    r = writer.post(api(study, "/narrow"), json={"name": "lr", "low": 0.01, "high": 0.1}, headers=auth)
    assert r.status_code == 200 and r.json()["action"].startswith("narrow lr"), r.text
    assert study.narrowed["lr"].who == "ana"
    assert "Narrowed mid-study" in writer.get(api(study, "/sections/summary")).json()["html"]
    r = writer.post(api(study, "/narrow"), json={"name": "lr", "low": 0.5, "high": 0.1}, headers=auth)
    assert r.status_code == 400 and "0.5" in r.json()["error"], r.text
    assert writer.post(api(study, "/narrow"), json={"name": "lr", "reset": True}, headers=auth).status_code == 200
    assert "lr" not in study.narrowed
    # Bad input: the message names what is wrong.
    r = writer.post(api(study, "/enqueue"), json={"params": []}, headers=auth)
    assert r.status_code == 400 and '"params" must be a non-empty JSON object' in r.json()["error"]
    r = writer.post(api(study, "/trials/1/explode"), json={}, headers=auth)
    assert r.status_code == 404 and "no trial action 'explode'" in r.json()["error"]
    r = writer.post(api(study, "/trials/999/stop"), json={}, headers=auth)
    assert r.status_code in (400, 404) and "999" in r.json()["error"]
    done = next(t for t in study.trials if t.state.value == "COMPLETE")
    r = writer.post(api(study, f"/trials/{done.number}/stop"), json={}, headers=auth)
    assert r.status_code == 400 and "COMPLETE" in r.json()["error"]


# ---------------------------------------------------------------------------------------------- command
def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "itero.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_cli_refuses_a_missing_database_a_bad_token_and_a_busy_port(tmp_path):
    r = run_cli("dashboard", "--storage", f"sqlite:///{tmp_path / 'none.db'}")
    assert r.returncode == 2 and f"no database at {tmp_path / 'none.db'}" in r.stderr
    itero.create_study("s", storage=f"sqlite:///{tmp_path / 'a.db'}", objectives={"loss": "minimize"})
    r = run_cli("dashboard", "--storage", f"sqlite:///{tmp_path / 'a.db'}", "--allow-write", env={
        "ITERO_DASHBOARD_TOKEN": "ana=short"
    })  # fmt: skip
    assert r.returncode == 2 and "the token of 'ana' is shorter than 8 characters" in r.stderr
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = run_cli("dashboard", "--storage", f"sqlite:///{tmp_path / 'a.db'}", "--port", str(port))
    assert r.returncode == 2 and f"--port {port}: cannot listen there" in r.stderr


# ---------------------------------------------------------------------------------------------- the server's cache
def test_parts_are_rebuilt_after_a_change_but_not_more_often_than_twice_their_cost(tmp_path):
    import time

    from itero.dashboard import Board

    url = f"sqlite:///{tmp_path / 'c.db'}"
    s = itero.create_study("c", storage=url, objectives={"loss": "minimize"}, sampler={"name": "random", "seed": 0})
    s.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1, show_progress=False)
    board = Board(url)
    builds: list[int] = []

    def slow(study: itero.Study) -> int:
        builds.append(study.version)
        time.sleep(1.0)  # a big study's part: rebuilt no sooner than 2 s after the last build started
        return len(study.trials)

    assert board.cached("c", ("n",), slow) == (1, builds[0])
    assert board.cached("c", ("n",), slow)[0] == 1 and len(builds) == 1  # nothing changed: not rebuilt
    s.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1, show_progress=False)
    value, version = board.cached("c", ("n",), slow)
    assert (value, len(builds)) == (1, 1) and version < board.version("c")  # too soon: the old part, said so
    time.sleep(2.05)
    value, version = board.cached("c", ("n",), slow)
    assert (value, len(builds), version) == (2, 2, board.version("c"))
    board.dispose()


def test_the_best_so_far_preview_is_an_svg_of_the_figure():
    import plotly.graph_objects as go

    from itero.dashboard._preview import svg_preview

    fig = go.Figure([go.Scatter(x=[0, 10, 20], y=[3.0, 1.0, 2.0], mode="markers"), go.Scatter(
        x=[0, 10, 20], y=[3.0, 1.0, 1.0], mode="lines", line={"shape": "hv"})])  # fmt: skip
    fig.update_layout(title={"text": f"best &lt;{XSS}"})
    svg = svg_preview(fig)
    assert svg.count("<circle") == 3 and svg.count("<polyline") == 1
    no_raw_xss(svg)
    assert svg_preview(go.Figure()) == ""


def test_a_study_deleted_while_the_page_is_open_is_a_404(tmp_path):
    url = f"sqlite:///{tmp_path / 'd.db'}"
    itero.create_study("gone", storage=url, objectives={"loss": "minimize"})
    with TestClient(create_app(url)) as client:
        assert client.get("/api/studies/gone/version").status_code == 200
        itero.delete_study("gone", storage=url)
        r = client.get("/api/studies/gone/version")
        assert r.status_code == 404 and "no study named 'gone'" in r.json()["error"]
        assert client.get("/api/studies").json()["html"].count("gone") == 0
