import numpy as np
import pytest

from faceveil.errors import InputError
from faceveil.eval.pairs import parse_pairs
from faceveil.eval.tsne import tsne


def test_parse_lfw_pairs(tmp_path):
    f = tmp_path / "pairs.txt"
    f.write_text("1\t2\nAbel_Pacheco\t1\t4\nAbel_Pacheco\t1\tAkhmed_Zakayev\t3\n")
    pairs = parse_pairs(f, tmp_path / "lfw")
    assert [p.same for p in pairs] == [True, False]
    assert pairs[0].first == tmp_path / "lfw" / "Abel_Pacheco" / "Abel_Pacheco_0001.jpg"
    assert pairs[0].second.name == "Abel_Pacheco_0004.jpg"
    assert pairs[1].second == tmp_path / "lfw" / "Akhmed_Zakayev" / "Akhmed_Zakayev_0003.jpg"


@pytest.mark.parametrize("text", ["Abel\t1\n", "Abel\tx\t2\n", ""])
def test_malformed_pairs_raise_with_line(tmp_path, text):
    f = tmp_path / "pairs.txt"
    f.write_text(text)
    with pytest.raises(InputError):
        parse_pairs(f, tmp_path)
    with pytest.raises(InputError, match="cannot read"):
        parse_pairs(tmp_path / "missing.txt", tmp_path)


def test_tsne_keeps_clusters_apart():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 32)) * 5
    labels = np.repeat(np.arange(3), 12)
    points = centres[labels] + rng.normal(size=(36, 32)) * 0.3
    y = tsne(points)
    assert y.shape == (36, 2) and np.isfinite(y).all()
    # every point is nearer to its own cluster's centroid than to any other
    centroids = np.stack([y[labels == k].mean(0) for k in range(3)])
    nearest = np.argmin(((y[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
    assert (nearest == labels).all()
    np.testing.assert_array_equal(y, tsne(points))  # deterministic for a seed
    with pytest.raises(InputError):
        tsne(points[:3])
