"""im2col and col2im (golden/windows.py)."""

import numpy as np
import pytest

from crosstrain.golden.windows import col2im, im2col, out_size


@pytest.mark.parametrize("kernel, stride, padding", [(3, 1, 1), (3, 2, 1), (4, 2, 1), (2, 2, 0), (1, 1, 0)])
def test_im2col_and_col2im_are_adjoint(kernel, stride, padding):
    """<im2col(a), g> == <a, col2im(g)> for random a and g."""
    rng = np.random.default_rng(1)
    a = rng.normal(size=(2, 5, 6, 3))
    rows = 2 * out_size(5, kernel, stride, padding) * out_size(6, kernel, stride, padding)
    g = rng.normal(size=(rows, kernel * kernel * 3))
    assert np.isclose((im2col(a, kernel, stride, padding) * g).sum(),
                      (a * col2im(g, a.shape, kernel, stride, padding)).sum())


def test_im2col_window_order():
    a = np.arange(9.0).reshape(1, 3, 3, 1)
    cols = im2col(a, 3, 1, 1)
    # centre pixel's window is the whole image, in (ky, kx) order
    assert cols[4].tolist() == list(range(9))
    # the top-left pixel sees padding above and to the left
    assert cols[0].tolist() == [0, 0, 0, 0, 0, 1, 0, 3, 4]


def test_out_size():
    assert [out_size(n, 3, 2, 1) for n in (1, 2, 3, 4, 5)] == [1, 1, 2, 2, 3]
