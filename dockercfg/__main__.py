from dockercfg.entry import main

main()
