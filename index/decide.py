"""Stage 4 of an answer: answer or abstain, from the evidence alone.

Why a stage of its own: abstaining when the documents do not say is the bot's core promise, and a
newcomer should find the rule in one place. With the trained reader (index/reader.py) it is one test:
the reader's confidence against the threshold it was trained with (`answer_above`, which an index's
calibration may replace). Without one, it is three tests: the evidence strength against the calibrated
threshold, the kind rule (a "how much" question needs a sentence giving an amount), and the focus rule
(below `sure_above`, one of the best sentences must itself state what is asked, not only name the same
people and places). `qabot calibrate` (bench/evaluate.py) fits the threshold with this same rule.

The calibration is read once, when the `Answerer` is made: the shipped one (part of the package,
read-only) or, preferred by the Engine, the index folder's own, which `qabot calibrate` writes. The
installed package is never written.
"""

from __future__ import annotations

import json
from pathlib import Path

from .params import AnswerParams
from .read import Evidence
from .reader import Judgement

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")


def load_calibration(path: Path = CALIBRATION_FILE) -> dict:
    """The calibration at `path` (the shipped one by default); {} when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def calibrated_threshold(cal: dict, p: AnswerParams) -> float:
    """The strength below which the answer path abstains: the calibration's, else the parameter's."""
    return float(cal.get("abstain_below", p.abstain_below))


def confident(judged: Judgement, answer_above: float) -> bool:
    """The trained reader's rule: answer when its confidence reaches the threshold `qabot train` fitted
    (or the index's calibration, `answer_above`)."""
    return bool(judged.evidence.sentences) and judged.confidence >= answer_above


def abstains(ev: Evidence, threshold: float, p: AnswerParams) -> bool:
    """The rules' verdict, used when no trained reader is shipped: whether the evidence is too weak to quote."""
    if not ev.sentences or ev.strength < threshold or not ev.kind_found:
        return True
    return ev.strength < p.sure_above and ev.focus < p.focus_min
