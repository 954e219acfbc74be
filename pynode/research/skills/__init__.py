"""Skills domain: programming by example on SyGuS PBE Strings, programs run by our own interpreter."""

from pynode.research.skills.domain import TASK, SkillsDomain

DOMAIN = SkillsDomain()

__all__ = ["DOMAIN", "TASK", "SkillsDomain"]
