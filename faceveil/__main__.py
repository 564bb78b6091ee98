import sys

from faceveil.cli import main

sys.exit(main())
