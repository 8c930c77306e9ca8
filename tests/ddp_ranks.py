"""Run the CycleGAN trainer under torchrun and leave each process's weights (and the images it drew)
in OUT, so a test can check that data-parallel training keeps the copies identical."""
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from safetensors.torch import save_file  # noqa: E402

from training import cyclegan  # noqa: E402
from training.data import folders  # noqa: E402

seen = []
_getitem = folders.UnpairedDataset.__getitem__


def recording_getitem(self, i):
    seen.append(i)
    return _getitem(self, i)


folders.UnpairedDataset.__getitem__ = recording_getitem
model = cyclegan.main(sys.argv[1:])
out = Path(sys.argv[sys.argv.index("--out") + 1])
rank = os.environ["RANK"]
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out / f"rank{rank}.safetensors")
(out / f"seen-rank{rank}.json").write_text(json.dumps(seen))
