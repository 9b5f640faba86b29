import sys

from tinct.cli import main

sys.exit(main())
