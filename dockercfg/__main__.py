from dockercfg.cli import main

main()
