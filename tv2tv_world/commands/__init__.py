"""The `tv2tv` subcommands, one module per family; each module's `add_commands` registers its parsers."""
