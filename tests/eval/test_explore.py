"""The explorer's state and JSON API: search answers, sorting, relabels, FITS queries, bad input."""

import json
import os
import socket
import urllib.error
import urllib.request

import numpy as np
import pytest
from explore_run import make_explore_run

from meersim.datasets.embeddings import load_embeddings
from meersim.errors import InputError
from meersim.eval.explore import make_server, start_in_thread, url_of
from meersim.eval.explorer import Explorer, Forbidden, NotFound
from meersim.eval.search import build_index, relevance_labels, search
from meersim.io import read_image
from meersim.ssl.embed import embed_image


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_explore_run(tmp_path_factory.mktemp("explore"))


@pytest.fixture()
def explorer(run, tmp_path):
    emb = tmp_path / "emb"  # a private copy: tests write relabels beside it
    emb.mkdir()
    for f in run["emb"].iterdir():
        (emb / f.name).write_bytes(f.read_bytes())
    return Explorer(emb, fits_dirs=[run["fits_dir"]], cache_dir=tmp_path / "thumbs")


@pytest.fixture()
def served(explorer):
    server = make_server(explorer, "127.0.0.1", 0)
    start_in_thread(server)
    yield url_of(server)
    server.shutdown()
    server.server_close()


def _get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type"), err.read()


def _post(url, body, content_type="application/json"):
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_neighbours_match_search_with_truth_labels_and_precision(explorer, run):
    emb = load_embeddings(run["emb"])
    sim, rows = search(emb.vectors, np.array([5]), 6)
    answer = explorer.neighbours(int(emb.crop_ids[5]), k=6, label="dominant_class")
    assert [n["crop_id"] for n in answer["neighbours"]] == emb.crop_ids[rows[0]].tolist()
    np.testing.assert_allclose([n["similarity"] for n in answer["neighbours"]], sim[0], atol=1e-6)
    labels = relevance_labels(run["truth"], "dominant_class")
    assert [n["relevance_label"] for n in answer["neighbours"]] == labels[rows[0]].tolist()
    assert answer["precision_at_k"] == pytest.approx(np.mean(labels[rows[0]] == labels[5]))
    assert answer["query"]["crop_id"] == 5 and "n_sources" in answer["query"]
    # binned counts as the relevance label
    counts = explorer.neighbours(5, k=6, label="n_sources")
    bins = relevance_labels(run["truth"], "n_sources")
    assert counts["precision_at_k"] == pytest.approx(np.mean(bins[rows[0]] == bins[5]))


def test_sorting_filtering_and_paging(explorer, run):
    truth = run["truth"]
    page = explorer.crops(sort="n_sources", descending=True, limit=10)
    assert page["total"] == len(truth)
    got = [c["n_sources"] for c in page["crops"]]
    assert got == sorted(np.asarray(truth["n_sources"]).tolist(), reverse=True)[:10]
    sfg = explorer.crops(
        sort="crop_id", descending=False, filters=[("dominant_class", "eq", "sfg")]
    )
    assert sfg["total"] == int(np.sum(truth["dominant_class"] == "sfg"))
    assert all(c["dominant_class"] == "sfg" for c in sfg["crops"])
    both = explorer.select([("n_sources", "ge", "3"), ("field_id", "lt", "2")])
    expect = np.flatnonzero((truth["n_sources"] >= 3) & (truth["field_id"] < 2))
    np.testing.assert_array_equal(both, expect)
    top = explorer.anomalies(top=5)["crops"]
    assert [c["crop_id"] for c in top] == np.argsort(-explorer.scores, kind="stable")[:5].tolist()
    second = explorer.crops(sort="anomaly", offset=5, limit=5)["crops"]
    assert [c["crop_id"] for c in second] == np.argsort(explorer.scores)[::-1][5:10].tolist()


def test_relabels_are_saved_atomically_and_survive_a_restart(explorer, run):
    explorer.set_label(3, "interesting")
    explorer.set_label(7, "not")
    explorer.set_label(9, "interesting")
    explorer.set_label(9, "")
    text = (explorer.emb_dir / "relabels.csv").read_text().splitlines()
    assert text == ["crop_id,label", "3,interesting", "7,not"]
    assert not [p for p in explorer.emb_dir.iterdir() if p.name.startswith(".")]
    again = Explorer(explorer.emb_dir, fits_dirs=[run["fits_dir"]])
    assert again.labels == {3: "interesting", 7: "not"}
    assert again.record(3)["label"] == "interesting"
    ranked = again.anomalies(top=3, refit=True)["crops"]
    assert ranked[0]["crop_id"] == 3 and 7 not in [c["crop_id"] for c in ranked]
    with pytest.raises(InputError):
        again.set_label(3, "maybe")


def test_thumbnails_are_made_once_and_cached(explorer):
    png = explorer.thumbnail(4)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    cached = explorer.cache_dir / explorer.product / "4.png"
    assert cached.read_bytes() == png
    os.utime(cached, (1, 1))
    assert explorer.thumbnail(4) == png and cached.stat().st_mtime == 1
    assert explorer.attention_png(4)[:4] == b"\x89PNG"


def test_fits_query_embeds_with_the_checkpoint_and_refuses_paths_outside(explorer, run, tmp_path):
    answer = explorer.query_fits(run["fits"], k=4)
    plane = read_image(run["fits"]).data[0]
    vector = embed_image(run["checkpoint"], plane, device="cpu")
    emb = load_embeddings(run["emb"])
    sim, rows = search(emb.vectors, vector[None], 4)
    assert [n["crop_id"] for n in answer["neighbours"]] == emb.crop_ids[rows[0]].tolist()
    # relative paths resolve inside the first folder
    assert explorer.query_fits("query.fits", k=2)["query"]["path"] == str(run["fits"].resolve())
    outside = tmp_path / "secret.fits"
    outside.write_bytes(run["fits"].read_bytes())
    for path in (outside, run["fits_dir"] / ".." / ".." / outside.name, "../" + outside.name):
        with pytest.raises(Forbidden):
            explorer.query_fits(path)
    link = run["fits_dir"] / "link.fits"
    if not link.exists():
        link.symlink_to(outside)
    with pytest.raises(Forbidden):  # a link inside that points outside
        explorer.query_fits(link)
    (run["fits_dir"] / "notes.txt").write_text("x")
    with pytest.raises(InputError):
        explorer.query_fits(run["fits_dir"] / "notes.txt")


def test_http_api_answers_and_errors(served, run):
    status, kind, body = _get(served + "api/neighbours?crop=2&k=3")
    assert status == 200 and kind == "application/json"
    assert len(json.loads(body)["neighbours"]) == 3
    status, _, body = _get(served + "api/neighbours?crop=99999")
    assert status == 404 and "99999" in json.loads(body)["error"]
    assert _get(served + "api/neighbours?crop=abc")[0] == 400
    assert _get(served + "api/neighbours?crop=2&k=0")[0] == 400
    assert _get(served + "api/crops?filter=nope")[0] == 400
    assert _get(served + "api/crops?sort=unknown_column")[0] == 400
    assert _get(served + "api/anomalies?top=5")[0] == 200
    assert _get(served + "api/nothing")[0] == 404
    status, kind, body = _get(served + "api/thumb?crop=1")
    assert status == 200 and kind == "image/png" and body[:4] == b"\x89PNG"
    assert _get(served)[0] == 200 and _get(served + "explore.js")[0] == 200
    assert _get(served + "api/info", {"Host": "evil.example:80"})[0] == 403
    assert _post(served + "api/label", {"crop": 2, "label": "interesting"})[0] == 200
    assert _post(served + "api/label", {"crop": 2, "label": "x"}, "text/plain")[0] == 400
    assert _post(served + "api/label", {"crop": 424242, "label": "not"})[0] == 404
    status, body = _post(served + "api/query", {"path": "/etc/passwd"})
    assert status == 403 and "outside" in body["error"]
    status, body = _post(served + "api/query", {"path": str(run["fits"]), "k": 2})
    assert status == 200 and len(body["neighbours"]) == 2


def test_large_sets_use_ivf(run, tmp_path):
    big = Explorer(run["emb"], exact_limit=10, nprobe=64, cache_dir=tmp_path)
    assert big.index.kind == "ivf" and big.info()["index"] == "ivf"
    exact = build_index(big.vectors)
    _, rows = search(big.vectors, np.arange(20), 5, index=exact)
    got = [[n["crop_id"] for n in big.neighbours(int(i), k=5)["neighbours"]] for i in range(20)]
    recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(rows.tolist(), got, strict=True)])
    assert recall > 0.9  # nprobe covers every cell here: the IVF answer is the exact one


def test_bad_inputs_give_one_clear_error(run, tmp_path):
    with pytest.raises(InputError, match="not a directory"):
        Explorer(tmp_path / "missing")
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in run["emb"].iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "embeddings.npy").write_bytes(b"not numpy")
    with pytest.raises(InputError, match="embeddings.npy"):
        Explorer(broken)
    np.save(broken / "embeddings.npy", np.ones((3, 4), np.float32))
    np.save(broken / "crop_ids.npy", np.array([0, 1, 10**6]))
    with pytest.raises(InputError, match="outside"):  # ids of another dataset
        Explorer(broken)
    (broken / "embeddings.npy").unlink()
    with pytest.raises(InputError, match="embeddings.npy"):
        Explorer(broken)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InputError, match="in use"):
            make_server(None, "127.0.0.1", port)
    ex = Explorer(run["emb"], cache_dir=tmp_path / "t")
    with pytest.raises(NotFound):
        ex.neighbours(10**6)
    with pytest.raises(Forbidden, match="--fits-dir"):
        ex.query_fits(run["fits"])


def test_cli_reports_a_taken_port_and_a_missing_dir_in_one_line(run, tmp_path):
    from click.testing import CliRunner

    from meersim.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        res = CliRunner().invoke(main, ["explore", str(run["emb"]), "--port", port])
    assert res.exit_code != 0 and "in use" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(main, ["explore", str(tmp_path / "nope"), "--port", "0"])
    assert res.exit_code != 0 and "not a directory" in res.output
