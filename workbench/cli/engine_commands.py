"""Engine subcommands (layers, build): registered in the engines issue."""
