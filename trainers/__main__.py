"""`python -m trainers`: prints the directory of the flagfiles (configs/), for --flagfile.

    python -m trainers.swiss_roll --flagfile="$(python -m trainers)/swiss_roll.flags"

works from any directory once the package is installed (`pip install .`), and in a checkout.
"""

import trainers

print(trainers.CONFIGS)
