"""Community clusters: create or join by code; members contribute, see members, vote, propose, invite, leave."""
from menus.clusters.config import FEATURE

__all__ = ["FEATURE"]
