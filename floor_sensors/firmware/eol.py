"""Supervised inputs: two end-of-line resistors read on an ADC pin → N, A, T or F.

The loop at the door is ``R_SERIES`` in series with the contact, which has
``R_PARALLEL`` across it; a pull-up ``R_PULLUP`` from the ADC reference (3V3)
feeds the ADC pin, the loop goes from the pin to AGND. With the defaults
(4k7 each) the pin sits at a fraction of full scale of:

=================  ==================  ========
line               loop resistance     fraction
=================  ==================  ========
shorted (tamper)   0                   0.00  → T
contact closed     R_SERIES            0.50  → N
contact open       R_SERIES+R_PARALLEL 0.67  → A
cut (fault)        infinite            1.00  → F
=================  ==================  ========

Thresholds sit half-way between neighbours (0.25, 0.58, 0.83). The reading is
ratiometric, so supply drift cancels as long as the pull-up goes to the ADC's own
reference. Pure, no logging (see ``fsn``).
"""

R_PULLUP = 4700
R_SERIES = 4700
R_PARALLEL = 4700
FULL_SCALE = 65535  # machine.ADC.read_u16()


def fraction(loop_ohms: float, r_pullup: float = R_PULLUP) -> float:
    """Return the fraction of full scale the ADC sees for a loop of ``loop_ohms`` (inf: cut)."""
    if loop_ohms == float("inf"):
        return 1.0
    return loop_ohms / (loop_ohms + r_pullup)


def thresholds(r_pullup: float = R_PULLUP, r_series: float = R_SERIES, r_parallel: float = R_PARALLEL) -> tuple:
    """Return the (T|N, N|A, A|F) boundaries as raw ADC counts, half-way between the nominal levels."""
    short, closed = 0.0, fraction(r_series, r_pullup)
    opened, cut = fraction(r_series + r_parallel, r_pullup), 1.0
    return (
        int(FULL_SCALE * (short + closed) / 2),
        int(FULL_SCALE * (closed + opened) / 2),
        int(FULL_SCALE * (opened + cut) / 2),
    )


DEFAULT_THRESHOLDS = thresholds()


def classify(raw: int, limits: tuple = DEFAULT_THRESHOLDS) -> str:
    """Return the FSN/1 state letter for a raw ADC reading (0..65535)."""
    if raw < limits[0]:
        return "T"
    if raw < limits[1]:
        return "N"
    if raw < limits[2]:
        return "A"
    return "F"
