"""Finance domain: S&P 500 timing strategies after costs, selected on 2000-2011, tested on 2012-2018."""

from pynode.research.finance.domain import TASK, FinanceDomain

DOMAIN = FinanceDomain()

__all__ = ["DOMAIN", "TASK", "FinanceDomain"]
