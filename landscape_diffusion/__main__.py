"`python -m landscape_diffusion ...`: the command line, also under `torchrun` and `accelerate launch`."
from landscape_diffusion.cli import main

main()
