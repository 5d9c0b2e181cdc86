"""Start a toy run from the command line (for the resume tests):

python tests/jobs/start.py RUN_DIR N_STEPS CHECKPOINT_EVERY '{"seed": 1, ...}'
"""

import json
import sys

from ntkflow.io import start_run

if __name__ == "__main__":
    run_dir, n_steps, every, config = sys.argv[1:5]
    result = start_run(
        run_dir,
        "toyjob:make_job",
        json.loads(config),
        n_steps=int(n_steps),
        checkpoint_every=int(every),
    )
    print(json.dumps(result.as_dict()))
    sys.exit(0 if result.status == "completed" else 128 + 15)
