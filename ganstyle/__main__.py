from ganstyle.cli import main

raise SystemExit(main())
