"""Import every area's models so the metadata (and Alembic) sees all tables."""

from .assets.models import *  # noqa: F401,F403
from .changelog.models import *  # noqa: F401,F403
from .core.chained import *  # noqa: F401,F403
from .core.files import *  # noqa: F401,F403
from .custody.models import *  # noqa: F401,F403
from .distribution.models import *  # noqa: F401,F403
from .exports.models import *  # noqa: F401,F403
from .households.models import *  # noqa: F401,F403
from .income.models import *  # noqa: F401,F403
from .lists.models import *  # noqa: F401,F403
from .oversight.models import *  # noqa: F401,F403
from .places.models import *  # noqa: F401,F403
from .rights.models import *  # noqa: F401,F403
from .users.models import *  # noqa: F401,F403
