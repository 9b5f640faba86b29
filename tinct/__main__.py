import sys

from tinct.apps.cli import main

sys.exit(main())
