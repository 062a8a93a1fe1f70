from unify_dash.cli import main

raise SystemExit(main())
