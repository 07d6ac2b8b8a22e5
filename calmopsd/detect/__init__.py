"""detect: readings → breaches. Rules with hold-down and hysteresis, and classification.

Pure: no I/O and no clock; time arrives with each reading. The stages, in order::

    series.py    a rule's metric path → one value per set of labels (mount, app, …)
    state.py     one series' state table: pending, firing, clearing, with named reasons
    evaluate.py  Detector: every rule's series, fed one reading at a time → Transitions
    breach.py    Breach and Transition, what detection hands on
    evidence.py  Context: recent PM2, health-check and probe facts around a breach
    classify.py  Evidence → exactly one incident type, from one table

Use::

    detector, context = Detector(config.rules), Context()
    for reading in readings:
        context.observe(reading)
        for transition in detector.evaluate(reading):
            if transition.reason is Reason.BREACH_CONFIRMED and transition.breach:
                decided = classify(context.evidence(transition.breach))
"""

from calmopsd.detect.breach import Transition
from calmopsd.detect.classify import CLASSIFICATION, Basis, Classification, Evidence, classify
from calmopsd.detect.evaluate import Detector
from calmopsd.detect.evidence import Context
from calmopsd.detect.state import Reason, State
from calmopsd.model import Breach

__all__ = [
    "CLASSIFICATION",
    "Basis",
    "Breach",
    "Classification",
    "Context",
    "Detector",
    "Evidence",
    "Reason",
    "State",
    "Transition",
    "classify",
]
