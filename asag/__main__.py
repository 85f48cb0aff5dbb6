from asag.cli import main

main()
