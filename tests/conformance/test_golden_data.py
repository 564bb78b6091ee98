"""The golden fixtures kept with the tests must be the project's shared reference, unchanged, and the
recipe port must reproduce the stored inputs bit for bit."""

import numpy as np
import pytest

from .golden import FILES, GOLDEN, SHARED, arrays, cases, recipe


@pytest.mark.skipif(not SHARED.exists(), reason="no shared/ checkout beside this clone")
@pytest.mark.parametrize("name", FILES)
def test_copy_matches_the_shared_reference(name):
    assert (GOLDEN / name).read_bytes() == (SHARED / name).read_bytes()


def test_every_case_input_is_reproduced_by_the_recipe():
    checked = 0
    for case in cases().values():
        for item in case["inputs"]:
            if item.get("recipe_name"):
                v = recipe().values(item["recipe_name"], item["shape"], "float32", item["spec"])
                assert np.array_equal(v, arrays()[item["npz"]]), item["npz"]
                checked += 1
    assert checked > 50
