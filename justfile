# Everyday commands. `just --list` shows them.

# Build the release binary.
build:
    cargo build --release

# The README's test command (what CI runs after fmt and clippy).
test:
    cargo test --release --workspace

# Formatting and lints, as CI checks them.
check:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Everything CI does, PostgreSQL included.
ci:
    bash .ci/run

# The quick grid into results/results.db, then the per-depth report.
quick:
    cargo run --release -- run grids/quick.toml
    cargo run --release -- report --by layers

# The study's three CNN grids and the ANN/CNN comparison.
study:
    cargo run --release -- run grids/1layer.toml
    cargo run --release -- run grids/2layer.toml
    cargo run --release -- run grids/3layer.toml
    cargo run --release -- run grids/compare.toml

# Training speed of the study's configurations (1 thread).
bench:
    cargo run --release -- bench --filters 64,64 --dense 128
    cargo run --release -- bench --filters 32,32,32 --dense 32
    cargo run --release -- bench --filters 16 --dense 16
    cargo run --release -- bench --filters 128,128,128 --dense 128
    cargo run --release -- bench --model ann
