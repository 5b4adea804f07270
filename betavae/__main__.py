from betavae.cli import main

raise SystemExit(main())
