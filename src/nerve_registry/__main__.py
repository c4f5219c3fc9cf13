from nerve_registry.cli.main import main

main()
