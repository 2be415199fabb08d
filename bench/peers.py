#!/usr/bin/env python3
"""Side-by-side training speed: tune, tune --stock, Keras and PyTorch on the same images, batch and
threads, run one after the other on this machine. Prints a Markdown table of images/s with the ratio
of tune to the faster peer. Needs the peers' venv (../shared/peers/setup.sh) and a release build.

    cargo build --release
    python3 bench/peers.py [--images 3200] [--stock-images 640] [--configs 64,64/128 ann ...]

One-thread runs (tune and peers alike) are pinned to one CPU with `taskset -c 0`: TensorFlow
otherwise spreads "one thread" of work over every core. Two-thread runs are not pinned.
The "2 jobs x 1 thread" column is `tune run` training two jobs of the configuration at once, one
thread each: the sum of the two jobs' training images/s, as recorded in the results database.
"""
import argparse, json, os, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TUNE = os.path.join(ROOT, "target", "release", "tune")
PEERS = os.path.join(ROOT, "..", "shared", "peers")
PY = os.environ.get("PEERS_PYTHON", os.path.expanduser("~/.cache/tune-peers/bin/python"))
CONFIGS = ["64,64/128", "32,32,32/32", "16/16", "128,128,128/128", "ann"]


def model_args(config):
    if config == "ann":
        return ["--model", "ann"]
    filters, dense = config.split("/")
    return ["--filters", filters, "--dense", dense]


def pin(threads):
    return ["taskset", "-c", "0"] if threads == 1 else []


def tune_bench(config, images, threads, stock=False):
    cmd = [*pin(threads), TUNE, "bench", *model_args(config), "--images", str(images), "--threads", str(threads), "--format", "json"]
    if stock:
        cmd.append("--stock")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def peer(script, config, images, threads):
    cmd = [*pin(threads), PY, os.path.join(PEERS, script), *model_args(config), "--images", str(images), "--threads", str(threads), "--no-eval"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=PEERS).stdout
    return json.loads(out.strip().splitlines()[-1])["images_per_s"]


def tune_run_two_jobs(config, images):
    """Total training images/s of `tune run --jobs 2 --threads-per-job 1` on two jobs."""
    with tempfile.TemporaryDirectory() as tmp:
        if config == "ann":
            model = 'model = "ann"\n'
        else:
            filters, dense = config.split("/")
            model = f'model = "cnn"\nfilters = [{filters}]\ndense = {dense}\n'
        grid = os.path.join(tmp, "two.toml")
        with open(grid, "w") as f:
            f.write(f'name = "two"\n[fixed]\n{model}epochs = 1\ntrain_images = {images}\n[axes]\nseed = [1, 2]\n')
        db = os.path.join(tmp, "r.db")
        subprocess.run([TUNE, "run", grid, "--db", db, "--jobs", "2", "--threads-per-job", "1", "--quiet"],
                       check=True, capture_output=True)
        out = subprocess.run(["sqlite3", db, "SELECT SUM(images_per_s) FROM results"], check=True,
                             capture_output=True, text=True).stdout
        return float(out.strip())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=3200)
    ap.add_argument("--stock-images", type=int, default=640)
    ap.add_argument("--configs", nargs="*", default=CONFIGS)
    a = ap.parse_args()
    rows = []
    for c in a.configs:
        r = {"config": c}
        r["tune1"] = tune_bench(c, a.images, 1)
        r["keras1"] = peer("keras_peer.py", c, a.images, 1)
        r["torch1"] = peer("torch_peer.py", c, a.images, 1)
        r["stock1"] = tune_bench(c, a.stock_images, 1, stock=True)["images_per_s"]
        r["tune2"] = tune_bench(c, a.images, 2)["images_per_s"]
        r["keras2"] = peer("keras_peer.py", c, a.images, 2)
        r["torch2"] = peer("torch_peer.py", c, a.images, 2)
        r["run2x1"] = tune_run_two_jobs(c, a.images)
        rows.append(r)
        print(json.dumps(r), file=sys.stderr, flush=True)
    print("| configuration | params | tune 1t | tune --stock 1t | Keras 1t | PyTorch 1t | tune / faster peer (1t) | tune GFLOP/s (1t) | tune 2t | Keras 2t | PyTorch 2t | tune run 2 jobs x 1t | run / faster peer (2t) | peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        t = r["tune1"]
        best1 = max(r["keras1"], r["torch1"])
        best2 = max(r["keras2"], r["torch2"])
        print(f"| {r['config']} | {t['params']:,} | {t['images_per_s']:,.0f} | {r['stock1']:,.0f} | {r['keras1']:,.0f} | {r['torch1']:,.0f} | "
              f"**{t['images_per_s'] / best1:.2f}x** | {t['gflops']:.1f} ({100 * t['share_of_sgemm_peak']:.0f}% of {t['sgemm_peak_gflops']:.0f}) | "
              f"{r['tune2']:,.0f} | {r['keras2']:,.0f} | {r['torch2']:,.0f} | {r['run2x1']:,.0f} | **{r['run2x1'] / best2:.2f}x** | {t['peak_rss_bytes'] / 2**20:.0f} MiB |")


if __name__ == "__main__":
    main()
