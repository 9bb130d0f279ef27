from neurosim.cli import main
main()
