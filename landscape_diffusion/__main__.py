"`python -m landscape_diffusion ...`: the command line, also under `torchrun` and `accelerate launch`."
from landscape_diffusion.train import main

main()
