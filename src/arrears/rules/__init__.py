"""Rule packs: jurisdiction rules as effective-dated data (``CN/``, ``US/``) and their loader.

The data files (``<CODE>/pack.yaml``, ``CN/lpr.csv``) ship in the package; an operator adds or
corrects LPR fixings in the workspace overlay (``<ARREARS_HOME>/rules/<CODE>/lpr.csv``). See
README.md in this folder.
"""

from arrears.rules.cost_cap import CapError, CapSegment, CostCap
from arrears.rules.errors import PackError, RuleError
from arrears.rules.lpr import LprError, LprFixing, LprSegment, Tenor
from arrears.rules.pack import RulePack, available_packs, load_pack

__all__ = [
    "CapError",
    "CapSegment",
    "CostCap",
    "LprError",
    "LprFixing",
    "LprSegment",
    "PackError",
    "RuleError",
    "RulePack",
    "Tenor",
    "available_packs",
    "load_pack",
]
