"""pagemove: how Linux moves page tables on mremap() and execve(), simulated faithfully.

    import pagemove as pm
    mm = pm.AddressSpace()                       # x86-64 geometry
    mm.mmap(0x1fff000, 0x201000, populate=True)
    r = mm.mremap(0x1fff000, 0x201000, 0x201000, new_addr=0x0fff000, kernel="6.6")
    r.pte_moves, r.pmd_moves                     # (1, 1): one page, then one whole PMD

Drawing lives in pagemove.plot and widgets in pagemove.widgets; importing pagemove loads neither.
"""

from .geometry import Geometry
from .kernel import NEWEST, Kernel
from .mm import VMA, AddressSpace
from .mremap import move_page_tables
from .pgtable import PageTables
from .trace import Damage, Event, MoveResult

__version__ = "0.1.0"
__all__ = ["AddressSpace", "Damage", "Event", "Geometry", "Kernel", "MoveResult", "NEWEST", "PageTables", "VMA",
           "move_page_tables", "__version__"]
