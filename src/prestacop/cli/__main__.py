from prestacop.cli.launch import main

main()
