// wps-bench: see BenchCommand for the flags and protocol-spec/ for what is measured.
BenchCommand.main()
