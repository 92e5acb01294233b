"""Small real datasets that ship inside PyPI packages (no download), for the accuracy lessons."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError

SPLITS = ("train", "calibration", "test")


def digits(split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's handwritten digits (UCI, 1,797 8x8 images): ``(images N x 1 x 8 x 8 float32 in [0, 1],
    labels int64)``.

    Fixed, stratified splits: ``train`` (1,078 images, used to train the ``digits_cnn`` sample), ``calibration``
    (269, for INT8 calibration: never seen in training) and ``test`` (450, for accuracy).
    """
    if split not in SPLITS:
        raise ConfigError(f"digits split '{split}' is unknown (splits: {', '.join(SPLITS)})")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    images = (data.images / 16.0).astype(np.float32)[:, None]
    labels = data.target.astype(np.int64)
    rest_x, test_x, rest_y, test_y = train_test_split(images, labels, test_size=450, random_state=0, stratify=labels)
    train_x, calib_x, train_y, calib_y = train_test_split(
        rest_x, rest_y, test_size=269, random_state=0, stratify=rest_y
    )
    return {"train": (train_x, train_y), "calibration": (calib_x, calib_y), "test": (test_x, test_y)}[split]
