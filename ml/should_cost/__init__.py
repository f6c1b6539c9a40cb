"""Should-cost build-ups from editable YAML templates, calibrated on the org's own quotes.

``build_up`` prices a template line by line on a date (materials move with their market
index); ``calibrate`` fits the template's free parameters to quote history and reports
the error on later, held-out quotes.
"""

from ml.should_cost.calibration import Calibration, ErrorStats, calibrate
from ml.should_cost.engine import CostLine, ShouldCost, build_up
from ml.should_cost.indexes import IndexTable, Observation, index_values_from_wide
from ml.should_cost.template import (
    CANONICAL_UNITS,
    MaterialInput,
    PriceBreak,
    ProcessLine,
    Template,
    load_template,
    parse_template,
    shipped_categories,
    shipped_template,
    template_to_yaml,
)

__all__ = [
    "CANONICAL_UNITS",
    "Calibration",
    "CostLine",
    "ErrorStats",
    "IndexTable",
    "MaterialInput",
    "Observation",
    "PriceBreak",
    "ProcessLine",
    "ShouldCost",
    "Template",
    "build_up",
    "calibrate",
    "index_values_from_wide",
    "load_template",
    "parse_template",
    "shipped_categories",
    "shipped_template",
    "template_to_yaml",
]
