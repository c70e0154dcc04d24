"""Peer of `caltech-anomaly bench train`: the baseline autoencoder in Keras on
TensorFlow, the report's own framework, trained with Adam and MSE on one
fixed random batch as the Rust side measures it (forward, backward,
optimizer step in one compiled `tf.function`, as `Model.fit` runs it; the
loss read back once at the end). Channels-last, TensorFlow's layout on the
CPU. `--precision bf16` sets Keras's `mixed_bfloat16` policy (layers compute
in bf16, variables and the loss stay fp32). Prints one JSON line: {"name", "images", "seconds", "peak_rss_bytes"}.
"""

import argparse
import os
import sys
import time

from measurement import print_measurement

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
from tensorflow import keras  # noqa: E402


def baseline(size: int, encoding_dim: int = 256) -> keras.Model:
    """The report's design; see src/model.rs and bench/torch_train.py."""
    side = size // 8
    conv = lambda c, act="relu": keras.layers.Conv2D(c, 3, padding="same", activation=act)
    up = lambda c: keras.layers.Conv2DTranspose(c, 3, strides=2, padding="same", activation="relu")
    return keras.Sequential([
        keras.Input((size, size, 3)),
        conv(32), keras.layers.MaxPooling2D(2),
        conv(64), keras.layers.MaxPooling2D(2),
        conv(128), keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(), keras.layers.Dense(encoding_dim, activation="relu"),
        keras.layers.Dense(128 * side * side, activation="relu"),
        keras.layers.Reshape((side, side, 128)),
        up(128), up(64), up(32),
        conv(3, act="sigmoid"),
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    args = parser.parse_args()
    if args.device != "cpu":
        print("keras_train.py measures the CPU only (tensorflow-cpu)", file=sys.stderr)
        return 2

    tf.random.set_seed(0)
    if args.precision == "bf16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = baseline(args.size)
    optimizer = keras.optimizers.Adam(learning_rate=1e-3, epsilon=1e-7)
    x = tf.random.uniform((args.batch, args.size, args.size, 3))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            reconstruction = tf.cast(model(x, training=True), tf.float32)
            loss = tf.reduce_mean(tf.square(reconstruction - x))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    for _ in range(max(args.warmup, 1)):  # the first call traces the graph
        step()
    start = time.perf_counter()
    total = tf.zeros(())
    for _ in range(args.steps):
        total += step()
    float(total.numpy())
    seconds = time.perf_counter() - start
    threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
    name = (f"Keras {keras.__version__} / TensorFlow {tf.__version__} {args.precision} "
            f"({model.count_params()} params, {threads} threads)")
    print_measurement(name, args.steps * args.batch, seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
