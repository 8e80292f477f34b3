"""Sanity protocol of FID with a dataset's classifier features (not Inception FID).

    python experiments/fid_protocol.py results/fid_protocol.json [--dataset fashion_mnist]

FID between the first 10,000 train images and the whole test split (the floor), then of
the test images under Gaussian noise (sigma on the [-1, 1] scale) and Gaussian blur (sigma
in pixels), all against the train statistics. Prints markdown tables, writes the JSON.
"""

import argparse

from jaxgen import data, files
from jaxgen.metrics import classifier, evaluate

NOISE_SIGMAS = (0.05, 0.1, 0.2, 0.4)
BLUR_SIGMAS = (0.5, 1.0, 1.5, 2.0)


def markdown_table(header, rows):
    lines = [f"| {' | '.join(header)} |", f"|{'---|' * len(header)}"]
    return "\n".join(lines + [f"| {' | '.join(map(str, row))} |" for row in rows])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", help="path of the JSON results")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--num-reference", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)

    net = classifier.load_feature_net(args.dataset)
    train_images, _ = data.load_split(args.dataset, "train", args.data_dir)
    test_images, _ = data.load_split(args.dataset, "test", args.data_dir)
    results = evaluate.fid_sanity_protocol(
        net, train_images[: args.num_reference], test_images, NOISE_SIGMAS, BLUR_SIGMAS, args.seed
    )
    label = f"FID ({args.dataset} classifier features)"
    print(f"{net.id}, {results['num_reference']} train vs {results['num_test']} test images\n")
    for kind, unit in (("noise", "sigma ([-1, 1] scale)"), ("blur", "sigma (pixels)")):
        rows = [(0, f"{results['floor']:.3f}")]
        rows += [(r["sigma"], f"{r['fid']:.3f}") for r in results[kind]]
        print(f"Gaussian {kind}\n\n{markdown_table((unit, label), rows)}\n")
    files.write_json(args.output, {"dataset": args.dataset, **results})


if __name__ == "__main__":
    main()
