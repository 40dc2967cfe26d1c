import sys
from hsl.cli import main
sys.exit(main())
