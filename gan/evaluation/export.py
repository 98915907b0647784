"""Write the weights-only file of a run: its generator alone, what gan.sample needs.

    python -m gan.export runs/dcgan                   # runs/dcgan/generator.npz
    python -m gan.export runs/dcgan/latest.npz --out dcgan_G.npz --raw

Training writes generator.npz beside every checkpoint; this makes one from a checkpoint
that has none (an older run), or from G itself instead of its moving average (--raw).
It holds the generator's weights and BatchNorm statistics and the model's config: a
fraction of latest.npz, which also holds D, both optimizers' moments and the averages.
"""
import argparse
import sys
from pathlib import Path

from .. import flags
from ..training import checkpoint, run_folder
from . import sample


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write a run's generator alone, for gan.sample.",
                                     formatter_class=flags.HelpFormatter)
    parser.add_argument("checkpoint", help="a run folder or its latest.npz")
    parser.add_argument("--out", default=None, help="the file to write (default: generator.npz beside the checkpoint)")
    parser.add_argument("--raw", action="store_true",
                        help="export G itself, not the moving average of its weights the run kept")
    args = parser.parse_args(argv)
    try:
        source = run_folder.model_file(args.checkpoint)
        out = Path(args.out) if args.out else source.with_name(run_folder.GENERATOR)
        if out.exists() and out.resolve() == source.resolve():
            raise checkpoint.CheckpointError(f"{source} is already a weights-only file; name another --out")
        if out.is_dir():
            raise checkpoint.CheckpointError(f"--out {out} is a folder; name the file to write")
        generator, meta = sample.load_generator(source, args.raw)
        if meta["format"] != checkpoint.FORMAT:
            raise checkpoint.CheckpointError(f"{source} is a weights-only file already; export from "
                                             f"the training checkpoint, {run_folder.LATEST}")
        averaged = meta["averaged"]
        checkpoint.save_generator(out, kind=meta["kind"], config=meta["config"], iteration=meta["iteration"],
                                  generator=generator, averaged=averaged)
    except (checkpoint.CheckpointError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{meta['kind']} generator ({'its moving average' if averaged else 'G itself'}, iteration "
          f"{meta['iteration']}) written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
