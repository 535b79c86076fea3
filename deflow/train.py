"""python -m deflow.train -opt confs/x.yml [--set train.total_iter=100] [--resume auto|PATH] [--schema MODEL_TYPE]

Under `torchrun --nproc_per_node=N -m deflow.train -opt ...` every process runs this with DDP.
"""
import argparse

from deflow.config import describe_schema, load_options
from deflow.errors import user_errors_exit_2


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m deflow.train", description=__doc__.splitlines()[0])
    parser.add_argument("-opt", "--opt", help="YAML config")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override any option, e.g. --set train.total_iter=100 (repeatable)")
    parser.add_argument("--resume", metavar="auto|PATH",
                        help="continue a run: 'auto' = the latest checkpoint of the experiment folder")
    parser.add_argument("--schema", metavar="MODEL_TYPE", help="print every option of a model type and exit")
    args = parser.parse_args(argv)
    if not args.opt and not args.schema:
        parser.error("-opt CONFIG is required (or --schema MODEL_TYPE)")
    return args


@user_errors_exit_2
def main(argv=None):
    args = parse_args(argv)
    if args.schema:
        print(describe_schema(args.schema))
        return
    from deflow.trainer import train

    opt = load_options(args.opt, args.set)
    root = train(opt, resume=args.resume)
    tensorboard = f", tensorboard {root / 'tb'}" if opt["logger"]["use_tb_logger"] else ""
    print(f"outputs: {root} (checkpoints in {root / 'checkpoints'}, log {root / 'train.log'}{tensorboard})")


if __name__ == "__main__":
    main()
