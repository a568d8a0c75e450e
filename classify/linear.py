"""A linear SVM whose C is chosen, and whose scores are calibrated, inside the training data.

Cross-validation over the training examples alone gives every example a score from a model
that did not see it. Those out-of-fold scores pick C (the best macro-F1 over `C_GRID`) and
fit one temperature T so that softmax(score / T) matches how often the winner was right
(least log loss). The kept SVM is then fitted on all examples. One temperature for all
classes never changes which class wins, so the calibration costs no accuracy.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.svm import LinearSVC

# The default C first: a tie keeps it. Wider grids found nothing better on the VNTC bench.
C_GRID = (1.0, 0.3, 3.0)
FOLDS = 5  # fewer when a category has fewer examples; none (T = 1) below two


def _two_columns(scores: np.ndarray) -> np.ndarray:
    """A binary SVM's one score as two class scores whose softmax is its sigmoid."""
    return np.column_stack([-scores / 2, scores / 2]) if scores.ndim == 1 else scores


def fit_temperature(scores: np.ndarray, truth: np.ndarray) -> float:
    """The T > 0 minimising the log loss of softmax(scores / T) for the true class indices.

    The targets are smoothed by Laplace's rule: n answers, all right, do not show that the
    next is right for sure, only with odds (n + 1) / (n + 2). Without it, data the folds
    separate perfectly drive T to zero and every probability to 1.
    """
    n, k = scores.shape
    share = 1.0 / (n + 2)  # taken from the true class, spread over the others
    targets = np.full((n, k), share / (k - 1))
    targets[np.arange(n), truth] = 1.0 - share

    def loss(log_t: float) -> float:
        return float(-(targets * log_softmax(scores / np.exp(log_t), axis=1)).sum(axis=1).mean())

    best = minimize_scalar(loss, bounds=(-6.0, 4.0), method="bounded")
    return float(np.exp(best.x))


class CalibratedSVC(ClassifierMixin, BaseEstimator):
    """LinearSVC with C picked by cross-validation and temperature-scaled probabilities."""

    def __init__(self, c_grid: tuple[float, ...] = C_GRID, folds: int = FOLDS, seed: int = 0):
        self.c_grid = c_grid
        self.folds = folds
        self.seed = seed

    def fit(self, X, y) -> CalibratedSVC:
        y = np.asarray(y)
        classes, truth, counts = np.unique(y, return_inverse=True, return_counts=True)
        folds = min(self.folds, int(counts.min()))
        self.C_, self.temperature_, self.cv_macro_f1_ = self.c_grid[0], 1.0, None
        if folds >= 2:
            cv = StratifiedKFold(folds, shuffle=True, random_state=self.seed)
            best = None
            for c in self.c_grid:
                svm = LinearSVC(C=c, random_state=self.seed)
                scores = cross_val_predict(svm, X, y, cv=cv, method="decision_function")
                scores = _two_columns(scores)
                f1 = f1_score(truth, scores.argmax(axis=1), average="macro")
                if best is None or f1 > best[0]:
                    best = (f1, c, scores)
            self.cv_macro_f1_, self.C_, scores = best
            self.temperature_ = fit_temperature(scores, truth)
        self.folds_ = folds if folds >= 2 else 0
        self.svm_ = LinearSVC(C=self.C_, random_state=self.seed).fit(X, y)
        self.classes_ = classes
        return self

    @property
    def coef_(self) -> np.ndarray:
        """One weight row per class (a binary SVM's one row split in two, as its scores)."""
        coef = self.svm_.coef_
        return np.vstack([-coef[0] / 2, coef[0] / 2]) if coef.shape[0] == 1 else coef

    def decision_function(self, X) -> np.ndarray:
        return _two_columns(self.svm_.decision_function(X))

    def predict_proba(self, X) -> np.ndarray:
        return softmax(self.decision_function(X) / self.temperature_, axis=1)

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.decision_function(X).argmax(axis=1)]
