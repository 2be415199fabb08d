import gzip, struct, os, sys
root = sys.argv[1]
TRAIN, TEST = int(sys.argv[2]) if len(sys.argv) > 2 else 256, 64
for name in ["fashion-mnist", "mnist"]:
    d = os.path.join(root, name); os.makedirs(d, exist_ok=True)
    for prefix, n in [("train", TRAIN), ("t10k", TEST)]:
        labels = [(i * 7) % 10 for i in range(n)]
        px = bytearray(n * 784)
        for i, l in enumerate(labels):
            for r in range(28):
                band = 2 * l <= r < 2 * l + 3
                for c in range(28):
                    noise = (i * 31 + r * 17 + c * 13) % 23
                    px[i * 784 + r * 28 + c] = 200 + noise if band else noise
        with gzip.open(os.path.join(d, f"{prefix}-images-idx3-ubyte.gz"), "wb") as f:
            f.write(struct.pack(">IIII", 2051, n, 28, 28)); f.write(bytes(px))
        with gzip.open(os.path.join(d, f"{prefix}-labels-idx1-ubyte.gz"), "wb") as f:
            f.write(struct.pack(">II", 2049, n)); f.write(bytes(labels))
