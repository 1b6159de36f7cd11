import sys

from sentinel_tui.cli.commands import main

sys.exit(main())
