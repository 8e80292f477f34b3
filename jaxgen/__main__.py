from jaxgen.cli import main

main()
