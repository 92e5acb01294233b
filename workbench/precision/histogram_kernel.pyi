# Types of the compiled kernel (histogram_kernel.c, which documents it).
import numpy as np

def count(
    values: np.ndarray, inverse: float, single: bool, fold: bool, counts: np.ndarray, /
) -> tuple[float, float, bool, int]: ...
