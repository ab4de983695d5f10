"""Run the troubleshooting tool: ``python -m custom_components.keba.kecontact``."""

import sys

from .cli import main

sys.exit(main())
